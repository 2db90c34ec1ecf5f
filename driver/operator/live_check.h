#pragma once
// `carp_exec check --live`: one real demote → confirm → restore cycle through the plugin's own
// pieces — the demotion ledger on <state_dir>/failover/ledger (so a crash mid-cycle is
// reconciled like the plugin's), the backend, and FailoverHandshake::Run for the confirmation —
// with the timings an operator wants: when the demotion was applied, when the state was first
// seen BACKUP, when the VIPs were first seen gone, when the handshake confirmed, when our share
// was restored and when the node was MASTER again.
//
// Refused (nothing changed) while the plugin has a hand-over in progress (the coordinator's
// <state_dir>/failover/handovers lists a task), while carp_exec holds this node demoted (our
// share > 0: no guarded task is ready here and the peer serves the VIP), or while another
// check --live runs. A check --live that was interrupted leaves <state_dir>/failover/check-live
// (see live_marker.h); the next run reconciles the ledger and restores that share first.
//
// The plugin keeps its ledger in memory while it runs; a cycle takes about two moves of the
// VIP, and a hand-over the plugin starts inside that window would see our share as its own.
// Run it before the first deploy or when no rollout is under way.

#include <functional>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "driver/config/plugin_config.h"
#include "driver/failover/clock.h"
#include "driver/failover/demotion_backend.h"
#include "driver/failover/failover_handshake.h"
#include "driver/failover/vrrp_resign.h"
#include "fingerprint/command_runner.h"
#include "fingerprint/node_observer.h"

namespace carp_exec::operator_cli {

struct LiveCycleParts {
  const config::FailoverConfig* config = nullptr;
  std::string state_dir;
  fingerprint::CommandRunner* runner = nullptr;  // confirm_command
  failover::Clock* clock = nullptr;
  failover::DemotionBackend* backend = nullptr;
  fingerprint::NodeObserver* observer = nullptr;
  std::string boot_id;
  // Receives each timeline line as it happens (no trailing newline).
  std::function<void(const std::string&)> print;
  // Also print every failover event the handshake emits.
  bool verbose = false;
  // keepalived with handover = "resign": the cycle resigns after its demotion as a stop on the
  // MASTER does (driver/failover/vrrp_resign.h), so its timings are the stops' timings. Null:
  // the weighted demotion alone.
  failover::VrrpResigner* resigner = nullptr;
  // Opens the confirmation's change-event source (fingerprint/change_events.h), as the plugin
  // does for a stop; empty: confirmation polls at poll_interval only.
  failover::FailoverHandshake::OpenEventsFn open_events;
};

struct LiveCycleResult {
  enum class Outcome { kOk, kFailed, kRefused };
  Outcome outcome = Outcome::kFailed;
  std::string summary;  // one sentence: what happened or why it was refused

  bool was_master = false;                       // MASTER or holding a VIP before the demotion
  absl::Time demoted_at = absl::InfinitePast();  // Clock::Now() (monotonic): for durations
  std::optional<absl::Duration> backup_after;    // from demoted_at
  std::optional<absl::Duration> vip_gone_after;
  std::optional<absl::Duration> confirmed_after;
  bool confirmed = false;
  bool restored = false;
  absl::Time restored_at = absl::InfinitePast();
  std::optional<absl::Duration> master_after;  // from restored_at
  int share_after = 0;                         // our share in the ledger at the end
};

LiveCycleResult RunLiveCycle(const LiveCycleParts& parts);

}  // namespace carp_exec::operator_cli
