#pragma once
// The failover handshake of one guarded task's stop, as a state machine:
//
//   idle → demoting → confirming → signalled → exited → held → restored
//
// Begin() and Continue() drive idle → demoting → confirming → signalled without blocking
// between polls (the coordinator's worker stays free, so overlapping stops can join this one);
// Run() is the same, sleeping on the clock in between. It applies our demotion (through the
// caller's ledger callback), and if this node is MASTER or holds a configured `vip` it polls
// every poll_interval until the move is confirmed — local state BACKUP (FAULT, INIT and
// unknown are not), no `vip` held here, and confirm_command (if any) exiting 0 — polling early
// when the change-event source (set_open_events) reports a change — bounded by
// confirm_timeout, then waits `settle`. With a resigner (keepalived, handover = "resign") a
// node seen MASTER right after a successful demotion also sends one priority-0 advertisement
// before the first wait; one the resigner cannot send yet (Unavailable: a unicast peer before
// keepalived advertised priority 1) is asked again at each poll while this node is still MASTER,
// up to confirm_timeout; one refused for good is logged and the wait is the weighted one. A
// node that is already BACKUP without the VIP does not wait. A timeout is reported and the caller
// stops the task anyway. The coordinator then reports exited / held / restored. Every transition
// emits one FailoverEvent; demoting and confirming are details (log only), so Nomad shows a
// hand-over as one event at signal time.
//
// Not thread-safe: it runs on the coordinator's worker thread. All waiting goes through Clock.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "driver/config/plugin_config.h"
#include "driver/failover/clock.h"
#include "driver/failover/demotion_ledger.h"
#include "driver/failover/failover_event.h"
#include "driver/failover/vrrp_resign.h"
#include "fingerprint/change_events.h"
#include "fingerprint/command_runner.h"
#include "fingerprint/node_observer.h"

namespace carp_exec::failover {

enum class HandoverPhase { kIdle, kDemoting, kConfirming, kSignalled, kExited, kHeld, kRestored };

// "idle", "demoting", "confirming", "signalled", "exited", "held", "restored".
absl::string_view HandoverPhaseName(HandoverPhase phase);

// What StopTask learns before it signals the task.
struct HandoverReport {
  bool demoted = false;    // our share is applied (now or already before)
  bool waited = false;     // this node was MASTER / held a vip, so we polled
  bool confirmed = false;  // the move was seen, or there was nothing to move
  absl::Duration elapsed;  // from the start of the hand-over until the task may be signalled
  std::string summary;     // the last event's text
  absl::Status error;      // demotion failure or cancellation; the task is stopped anyway
};

// A hand-over that did not run (setup failed, shutting down): `error` and its event text.
inline HandoverReport HandoverError(absl::Status error, std::string summary) {
  HandoverReport report;
  report.error = std::move(error);
  report.summary = std::move(summary);
  return report;
}

class FailoverHandshake {
 public:
  // What Run() needs; none of it is owned. `target` is the backend's Target() for messages.
  struct Parts {
    const config::FailoverConfig* config = nullptr;
    std::string target;
    fingerprint::NodeObserver* observer = nullptr;
    fingerprint::CommandRunner* runner = nullptr;  // for confirm_command
    Clock* clock = nullptr;
    EventSink* sink = nullptr;
    // keepalived with handover = "resign": after a successful demotion, and only when the first
    // look says MASTER, Begin() sends the priority-0 advertisement through it (Continue asks
    // again while it answers Unavailable). Null: weighted.
    VrrpResigner* resigner = nullptr;
  };
  using OpenEventsFn = std::function<std::unique_ptr<fingerprint::ChangeEventSource>()>;
  // Applies our share (idempotently) and says what happened.
  using DemoteFn = std::function<absl::StatusOr<LedgerChange>()>;

  FailoverHandshake(TaskRef task, Parts parts);
  FailoverHandshake(const FailoverHandshake&) = delete;
  FailoverHandshake& operator=(const FailoverHandshake&) = delete;

  // Optional: Begin() opens a fingerprint::ChangeEventSource with `open` before the demotion
  // (so the change it causes cannot slip past). Run() then ends its wait between polls as soon
  // as the source reports a change and checks the full condition at once (the poll at
  // poll_interval stays the safety net); a caller driving Continue() itself takes the source
  // with TakeEvents() and calls Continue() early on a change. Unset, or returning null, means
  // polling only. The source waits in real time: use it with the system clock.
  void set_open_events(OpenEventsFn open) { open_events_ = std::move(open); }
  // The source Begin() opened (null if none, or already taken). Continue() may be called
  // before next_step_at(): it then polls at once.
  std::unique_ptr<fingerprint::ChangeEventSource> TakeEvents() { return std::move(events_); }

  HandoverPhase phase() const { return phase_; }
  const TaskRef& task() const { return task_; }

  // idle → demoting → confirming: demotes and observes once. Returns the report when the task
  // may be signalled at once (nothing to hand over, or the demotion failed); otherwise nullopt,
  // and the caller calls Continue() at next_step_at().
  std::optional<HandoverReport> Begin(const DemoteFn& demote);
  // One more poll, or the end of `settle`. Returns the report (→ signalled) once the move is
  // confirmed and settled, or confirm_timeout has passed; otherwise nullopt as above.
  std::optional<HandoverReport> Continue();
  // When Continue() is due (a Clock::Now() time).
  absl::Time next_step_at() const { return next_step_at_; }
  // When Begin() ran (a Clock::Now() time).
  absl::Time started_at() const { return start_; }

  // The BACKUP node's shortcut, instead of Begin: observes once, before any demotion. When
  // the node is not MASTER, holds no vip and is observable (BACKUP, INIT or FAULT: what Begin
  // would not wait for either), reports at once (idle → confirming → signalled, "nothing to
  // hand over") and the caller demotes afterwards; confirm_command is not run (nothing moved).
  // Otherwise returns nullopt and leaves the handshake idle for Begin. With an in-process
  // observer this costs no fork and no disk write.
  std::optional<HandoverReport> NothingToHandOver();

  // Begin, then Continue until done, sleeping on the clock (or waiting on the change events)
  // in between (check --live).
  HandoverReport Run(const DemoteFn& demote);

  // Every transition emits through this; also used by the coordinator for its own events so
  // they carry the same annotations. Logs the event itself only when `sink` is null.
  // `detail`: log only (FailoverEvent::detail).
  static void EmitEvent(EventSink* sink, const TaskRef& task, absl::string_view phase,
                        std::string message, std::map<std::string, std::string> annotations,
                        bool detail = false);

 private:
  // One poll: observe, then (only if BACKUP without vip) run confirm_command.
  struct Poll {
    std::optional<fingerprint::Observation> observation;
    std::string observe_error;
    std::string confirm_error;
    bool confirmed = false;
  };
  Poll PollOnce();
  void Transition(HandoverPhase to, std::string message,
                  std::map<std::string, std::string> annotations = {});

  HandoverReport Signalled(std::map<std::string, std::string> notes);
  // handover = "resign": see Parts::resigner. `share` is our demotion after Begin's step.
  void MaybeResign(int share);
  // One Resign call; `first` is Begin's (a Transition), later ones come from Continue's polls
  // (events in the current phase). Sets resign_pending_ while the resigner says "not yet".
  void TryResign(bool first);

  TaskRef task_;
  Parts parts_;
  OpenEventsFn open_events_;
  std::unique_ptr<fingerprint::ChangeEventSource> events_;  // opened by Begin
  HandoverPhase phase_ = HandoverPhase::kIdle;
  // Between Begin and the report.
  absl::Time start_;
  absl::Time deadline_;
  absl::Time next_step_at_;
  std::optional<absl::Time> settled_at_;  // set once confirmed, when settle > 0
  std::map<std::string, std::string> confirmed_notes_;
  Poll poll_;
  int polls_ = 0;
  uint64_t spawned_at_begin_ = 0;  // fingerprint::ProcessesSpawned() when Begin ran
  std::string before_state_;
  std::string demoted_text_;     // "demoted group carp by 50 (demote count 0 → 50)"
  bool resign_pending_ = false;  // asked again at each poll (see TryResign)
  int resign_share_ = 0;
  std::string resign_text_;  // "; resigned VRRPv3 vrid 51 ..." when a resign was sent
  std::vector<std::string> vips_before_;
  HandoverReport report_;
};

// The ObserverOptions for a failover block (vip addresses as text, tool paths, state sources).
fingerprint::ObserverOptions ObserverOptionsFor(const config::FailoverConfig& config);

}  // namespace carp_exec::failover
