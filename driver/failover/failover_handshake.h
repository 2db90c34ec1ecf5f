#pragma once
// The failover handshake of one guarded task's stop, as a state machine:
//
//   idle → demoting → confirming → signalled → exited → held → restored
//
// Run() drives idle → demoting → confirming → signalled: it applies our demotion (through the
// caller's ledger callback), and if this node is MASTER or holds a configured `vip` it polls
// every poll_interval until the move is confirmed — local state BACKUP (FAULT, INIT and
// unknown are not), no `vip` held here, and confirm_command (if any) exiting 0 — waking early
// when Parts::open_events reports a change — bounded by
// confirm_timeout, then waits `settle`. A node that is already BACKUP without the VIP does not
// wait. A timeout is reported and the caller stops the task anyway. The coordinator then
// reports exited / held / restored. Every transition emits one FailoverEvent.
//
// Not thread-safe: it runs on the coordinator's worker thread. All waiting goes through Clock.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "driver/config/plugin_config.h"
#include "driver/failover/clock.h"
#include "driver/failover/demotion_ledger.h"
#include "driver/failover/failover_event.h"
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
  };
  using OpenEventsFn = std::function<std::unique_ptr<fingerprint::ChangeEventSource>()>;
  // Applies our share (idempotently) and says what happened.
  using DemoteFn = std::function<absl::StatusOr<LedgerChange>()>;

  FailoverHandshake(TaskRef task, Parts parts);
  FailoverHandshake(const FailoverHandshake&) = delete;
  FailoverHandshake& operator=(const FailoverHandshake&) = delete;

  // Optional: Run() opens a fingerprint::ChangeEventSource with `open` before the demotion; the
  // wait between polls then ends as soon as it reports a change and the full condition is
  // checked at once (the poll at poll_interval stays the safety net). Unset, or returning
  // null, means polling only. The source waits in real time: use it with the system clock.
  void set_open_events(OpenEventsFn open) { open_events_ = std::move(open); }

  HandoverPhase phase() const { return phase_; }
  const TaskRef& task() const { return task_; }

  // idle → demoting → confirming → signalled; returns when the caller may signal the task.
  HandoverReport Run(const DemoteFn& demote);

  // signalled → exited ("task exited with status 0").
  void TaskExited(absl::string_view how);
  // exited → held: the node stays demoted (`why` says until when).
  void Held(absl::string_view why);
  // exited|held → restored: our share was taken back because `why`.
  void Restored(absl::string_view why);

  // Every transition emits through this; also used by the coordinator for its own events so
  // they carry the same annotations. Logs the event itself only when `sink` is null.
  static void EmitEvent(EventSink* sink, const TaskRef& task, absl::string_view phase,
                        std::string message, std::map<std::string, std::string> annotations);

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

  TaskRef task_;
  Parts parts_;
  OpenEventsFn open_events_;
  HandoverPhase phase_ = HandoverPhase::kIdle;
};

// The ObserverOptions for a failover block (vip addresses as text, tool paths, state sources).
fingerprint::ObserverOptions ObserverOptionsFor(const config::FailoverConfig& config);

}  // namespace carp_exec::failover
