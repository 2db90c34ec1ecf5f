#include "driver/failover/event_text.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "fingerprint/vrrp_state.h"

namespace carp_exec::failover {

using fingerprint::VrrpState;

std::string FormatElapsed(absl::Duration elapsed) {
  if (elapsed < absl::Seconds(1)) {
    return absl::StrCat(absl::ToInt64Milliseconds(elapsed), " ms");
  }
  return absl::StrFormat("%.1f s", absl::ToDoubleSeconds(elapsed));
}

std::string VipList(const std::vector<std::string>& vips) {
  if (vips.empty()) return "the VIP";
  return absl::StrJoin(vips, ", ");
}

namespace {

// "demote count 0 → 50" when the counter is observable, "our share 0 → 50" otherwise.
std::string CountChange(const LedgerChange& change) {
  if (change.count_before.has_value() && change.count_after.has_value()) {
    return absl::StrCat("demote count ", *change.count_before, " → ", *change.count_after);
  }
  return absl::StrCat("our share ", change.share_before, " → ", change.share_after);
}

bool IsCommandTarget(absl::string_view target) { return target == "demote_command"; }

}  // namespace

std::string DemotedText(absl::string_view target, const LedgerChange& change) {
  if (!change.changed) {
    std::string count = change.count_before.has_value()
                            ? absl::StrCat(", demote count ", *change.count_before)
                            : "";
    return absl::StrCat(IsCommandTarget(target) ? "node" : target,
                        " already demoted by carp_exec (our share ", change.share_after, count,
                        ")");
  }
  if (IsCommandTarget(target)) {
    return absl::StrCat("demoted via demote_command (our share ", change.share_before, " → ",
                        change.share_after, ")");
  }
  return absl::StrCat("demoted ", target, " by ", change.share_after - change.share_before, " (",
                      CountChange(change), ")");
}

std::string RestoredText(absl::string_view target, const LedgerChange& change) {
  if (IsCommandTarget(target)) {
    return absl::StrCat("restored via restore_command (our share ", change.share_before, " → ",
                        change.share_after, ")");
  }
  if (change.count_before.has_value() && change.count_after.has_value()) {
    return absl::StrCat("restored ", CountChange(change));
  }
  return absl::StrCat("restored ", target, " (our share ", change.share_before, " → ",
                      change.share_after, ")");
}

std::string StateText(const fingerprint::Observation& observation) {
  std::string text(fingerprint::VrrpStateName(observation.state));
  if (observation.holds_vip) {
    absl::StrAppend(&text, ", ", VipList(observation.vips_held), " on this node");
  }
  return text;
}

std::string NotConfirmedReason(absl::string_view backend,
                               const std::optional<fingerprint::Observation>& observation,
                               absl::string_view observe_error, absl::string_view confirm_error) {
  if (!observation.has_value()) {
    return absl::StrCat("cannot observe the node: ", observe_error);
  }
  const fingerprint::Observation& seen = *observation;
  switch (seen.state) {
    case VrrpState::kMaster: {
      absl::string_view hint = "peer down or more demoted?";
      if (backend == "keepalived") hint = "peer down, peer priority lower, or nopreempt?";
      if (backend == "freebsd-carp") hint = "peer down, or net.inet.carp.preempt=0 on the peer?";
      return absl::StrCat("still MASTER (", hint, ")");
    }
    case VrrpState::kFault:
      return "FAULT is not BACKUP (a faulted node drops the VIP without proof that the peer took "
             "it)";
    case VrrpState::kInit:
      return "INIT is not BACKUP (carp interface or its carpdev not up)";
    case VrrpState::kUnknown:
      return absl::StrCat("state unknown (", seen.detail, ")");
    case VrrpState::kBackup:
      break;
  }
  if (seen.holds_vip) {
    return absl::StrCat("BACKUP but ", VipList(seen.vips_held), " still on this node");
  }
  return absl::StrCat("confirm_command: ", confirm_error);
}

}  // namespace carp_exec::failover
