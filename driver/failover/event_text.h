#pragma once
// The sentences failover events say, in one place so the texts stay consistent and tests can
// check them. Pure functions.

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "driver/failover/demotion_ledger.h"
#include "fingerprint/node_observer.h"

namespace carp_exec::failover {

// "312 ms" below a second, "1.2 s" above.
std::string FormatElapsed(absl::Duration elapsed);

// "192.0.2.10" / "192.0.2.10, 192.0.2.11" / "the VIP" when none is configured.
std::string VipList(const std::vector<std::string>& vips);

// After a demotion through the ledger, e.g.
//   "demoted group carp by 50 (demote count 0 → 50)"
//   "group carp already demoted by carp_exec (our share 50, demote count 50)"
//   "demoted via demote_command (our share 0 → 50)"
// `target` is DemotionBackend::Target().
std::string DemotedText(absl::string_view target, const LedgerChange& change);

// After a restore, e.g. "restored demote count 50 → 0" or "restored track_file ... (our share
// 50 → 0)". The caller appends the reason (": task ready (...)").
std::string RestoredText(absl::string_view target, const LedgerChange& change);

// The node's state in a few words: "MASTER, 192.0.2.10 on this node", "BACKUP".
std::string StateText(const fingerprint::Observation& observation);

// Why a confirmation could not be had yet, for the timeout message:
// "still MASTER (peer down or more demoted?)", "FAULT is not BACKUP (...)",
// "BACKUP but 192.0.2.10 still on this node", "confirm_command: exited with status 1".
std::string NotConfirmedReason(absl::string_view backend,
                               const std::optional<fingerprint::Observation>& observation,
                               absl::string_view observe_error, absl::string_view confirm_error);

}  // namespace carp_exec::failover
