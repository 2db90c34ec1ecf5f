#pragma once
// The failover side of the driver, as the service adapter sees it. One coordinator per plugin
// when the plugin config has a `failover` block.
//
// It decides when this node is demoted:
//   - StopTask of a guarded task demotes (once, via the ledger) and hands the VIP over before
//     the task is signalled (FailoverHandshake);
//   - the node stays demoted while no guarded task here is running *and ready*;
//   - our share is restored only when a guarded task is running and its ready check passed
//     (at once if it has no ready block, or late, at kLateReadyInterval, after its timeout),
//     and no hand-over is in progress;
//   - a guarded task that exits unexpectedly demotes the node at once (the peer takes the IP);
//   - at plugin start the decision comes from the state directory (ScanStateDir), not from
//     RecoverTask: no live guarded task ⇒ demoted; a live one ⇒ the current state is kept, so a
//     plugin or Nomad client restart while the task serves never moves the IP. A live task that
//     was being handed over when the plugin died keeps the node demoted.
//
// It is the only owner of each guarded task's failover life (task_life.h: the states and the
// table of allowed transitions) and learns of exits itself through Parts::watch_exit.
//
// All work runs on one worker thread (SerialWorker): API calls return at once and completion is
// reported through callbacks and events. A hand-over's confirmation polls are scheduled jobs,
// so the worker stays free while one waits; with the system clock a ChangeWaker
// (change_waker.h) also posts a poll as soon as the kernel reports a change. Thread-safe.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "driver/config/plugin_config.h"
#include "driver/config/task_config.h"
#include "driver/failover/change_waker.h"
#include "driver/failover/clock.h"
#include "driver/failover/demotion_backend.h"
#include "driver/failover/demotion_ledger.h"
#include "driver/failover/failover_event.h"
#include "driver/failover/failover_files.h"
#include "driver/failover/failover_handshake.h"
#include "driver/failover/ready_probe.h"
#include "driver/failover/serial_worker.h"
#include "driver/failover/task_life.h"
#include "driver/failover/vrrp_resign.h"
#include "driver/tasks/task_types.h"
#include "fingerprint/command_runner.h"
#include "fingerprint/node_observer.h"

namespace carp_exec::failover {

// For the fingerprint (driver.carp_exec.failover = usable/unusable, .failover.backend, the
// health description) and for `carp_exec status` (the live state and our share).
struct FailoverStatus {
  std::string backend;              // "openbsd-carp"
  std::string state = "unknown";    // MASTER/BACKUP/INIT/FAULT/unknown (last observation)
  bool demoted = false;             // our share is applied
  int share = 0;                    // our share of the demotion
  std::optional<int> demote_count;  // the backend's counter, when knowable
  bool usable = false;
  std::string unhealthy;  // when !usable: what is broken and how to fix it
  absl::Time observed_at = absl::InfinitePast();
};

class FailoverCoordinator {
 public:
  // Registers a one-shot watch on a task's exit: `on_exit` runs once when the task's process
  // has ended, with a few words on how ("exited with status 0", "killed by SIGKILL"), on any
  // thread (also at once when it already ended). It never runs when the task did not end (the
  // runner shut down). Returns false when the task is not known yet (found in the state dir
  // before Nomad's RecoverTask reached the runner); the coordinator then watches it when
  // RecoverTask reports it. Called on the worker thread.
  using ExitWatch =
      std::function<bool(const std::string& task_id, std::function<void(std::string how)> on_exit)>;

  // Replaceable parts, for tests. Anything left empty is built from the config.
  struct Parts {
    std::unique_ptr<fingerprint::NodeObserver> observer;
    std::unique_ptr<DemotionBackend> backend;
    // keepalived with handover = "resign"; built by Setup (OpenVrrpResigner) when empty. A
    // resigner that cannot open leaves hand-overs weighted, with a warning.
    std::unique_ptr<VrrpResigner> resigner;
    std::unique_ptr<ReadyProber> prober;
    std::optional<std::string> boot_id;
    LedgerInterrupt ledger_interrupt;
    LedgerDiskFull ledger_disk_full;  // tests: inject ENOSPC
    // How the coordinator learns of exits (the driver passes TaskRunner::Wait). Empty: only
    // GuardedTaskExited tells it.
    ExitWatch watch_exit;
    // Opens a hand-over's change-event source (tests). Empty: the platform's
    // (fingerprint::OpenChangeEventSource), and only with a real clock.
    FailoverHandshake::OpenEventsFn open_events;
  };

  // `runner`, `clock` and `sink` are not owned and must outlive the coordinator. `state_dir` is
  // the plugin's; the coordinator keeps its files in <state_dir>/failover/. Nothing runs until
  // Start().
  FailoverCoordinator(config::FailoverConfig config, std::string state_dir,
                      fingerprint::CommandRunner* runner, Clock* clock, EventSink* sink,
                      Parts parts = {});
  // Stops the worker. Hand-overs not yet finished complete with a Cancelled error; exit
  // watches that fire later are ignored.
  ~FailoverCoordinator();
  FailoverCoordinator(const FailoverCoordinator&) = delete;
  FailoverCoordinator& operator=(const FailoverCoordinator&) = delete;

  // Builds the observer and backend, reconciles the ledger, and decides from `tasks` (what
  // tasks::ScanStateDir found) whether the node must be demoted; then starts the worker. Blocks
  // while it runs the backend's tools (a few commands). An error (config unusable, corrupt
  // ledger, tool missing) is also what Status() reports as unusable; the coordinator still
  // starts, and hand-overs then report the error and let the task be stopped without one.
  // After an error the setup is tried again on the worker with bounded backoff
  // (setup_retry.h) until it works; then the decision is taken from a fresh state-dir scan
  // (tasks the coordinator already learned of meanwhile keep their state).
  absl::Status Start(const std::vector<tasks::PersistedTask>& tasks);

  // StopTask of a guarded task, before it signals the task: demote, confirm, settle. `done`
  // runs on the worker thread when the task may be signalled (always exactly once; with
  // report.error set on failure or shutdown). Stops that overlap share one hand-over: a stop
  // that arrives while another is confirming joins it (no second demotion, no second
  // confirmation loop) and is released with it. With observe_via = "kernel" a node that is
  // not MASTER and holds no vip is looked at once first and released at once; its records and
  // the demotion a stopping task requires follow right after, on the same job.
  void HandOver(TaskRef task, std::function<void(HandoverReport)> done);

  // StartTask of a guarded task. Runs `ready` every interval until it passes (then restores,
  // if nothing else keeps the node demoted); after its timeout an event says the node stays
  // demoted, and the check goes on every kLateReadyInterval so a late replacement still
  // restores the node as soon as it serves. Without a ready block the task counts as ready at
  // once. Calling it again for a known task is harmless.
  void GuardedTaskStarted(TaskRef task, std::optional<config::ReadyCheck> ready);
  // RecoverTask of a running guarded task. A task the coordinator already knows keeps its
  // state: in particular one whose hand-over had begun stays "stopping" (Nomad re-sends the
  // StopTask after relaunching a crashed plugin: client/allocrunner/taskrunner/task_runner.go,
  // handleTaskExitResult → restoreHandle, then handleKill again). Only when no StopTask comes
  // within failover.recover_stop_grace does it count as serving again (and get its ready check).
  // The same holds for a task the handovers file names when the setup has not succeeded yet
  // (the file is read at Start, before the setup). Its exit watch is registered before its ready
  // check starts, so a task that had already exited is seen as exited without serving first.
  void GuardedTaskRecovered(TaskRef task, std::optional<config::ReadyCheck> ready);

  // The task's process ended. Normally reported by the exit watch; public for tests. Whether it
  // was the stop or a crash follows from the task's state: a crash demotes at once.
  void GuardedTaskExited(TaskRef task, std::string how = "exited");

  // A forced DestroyTask is about to kill a running guarded task (no hand-over: Nomad decided).
  // The task counts as stopping, so its exit is not a crash and the node does not serve under
  // it. If the destroy fails, GuardedTaskStopAborted puts it back.
  void GuardedTaskStopping(TaskRef task);
  void GuardedTaskStopAborted(TaskRef task);

  // DestroyTask: the coordinator forgets the task.
  void GuardedTaskDestroyed(TaskRef task);

  // The last observation and our share; never blocks on the worker. Asks the worker for a fresh
  // observation when the last one is older than `kStatusRefresh`, so repeated fingerprints see
  // current data.
  FailoverStatus Status();
  static constexpr absl::Duration kStatusRefresh = absl::Seconds(5);

  // After ready.timeout, how often a not-ready task is probed again: slow enough to be cheap,
  // fast enough that a node is not held demoted for long under a task that serves.
  static constexpr absl::Duration kLateReadyInterval = absl::Seconds(2);

  // Waits until everything posted before it has run (timed work due later, such as the next
  // ready-probe attempt, is not waited for). For tests; never call from the worker thread.
  void Flush();

 private:
  struct Guarded {
    TaskRef ref;
    Life life = Life::kNone;
    std::optional<config::ReadyCheck> ready;
    absl::Time probe_started;
    bool probing = false;
    uint64_t probe_generation = 0;  // bumped to cancel scheduled probe attempts
    uint64_t grace_generation = 0;  // bumped to cancel a scheduled recover_stop_grace expiry
    bool watching = false;          // an exit watch is registered
    bool stop_seen = false;         // StopTask or a forced destroy reached this process
    std::string ready_detail;       // "task ready (http://... 200 after 1.2 s)"
  };
  // A stop waiting for the hand-over in progress.
  struct Waiter {
    TaskRef task;
    std::function<void(HandoverReport)> done;
    absl::Time joined_at;
  };
  // Lets exit watches that fire after the coordinator is gone do nothing.
  struct Liveness {
    absl::Mutex mu;
    FailoverCoordinator* coordinator ABSL_GUARDED_BY(mu);
  };

  absl::Status Setup();
  void DecideAtStart(const std::vector<tasks::PersistedTask>& tasks);
  // Reads the handovers file into recorded_handovers_ (Start, before the setup).
  void ReadRecordedHandovers();
  // Whether a task entering the coordinator from a previous plugin process (the state-dir scan
  // or RecoverTask) had its hand-over recorded; forgets the record (its life tracks it now).
  bool TakeRecordedHandover(const std::string& task_id);
  // Puts a task whose hand-over was recorded into stopping and arms recover_stop_grace.
  void EnterRecordedStop(Guarded* guarded);
  // Setup retry after a failed Start (setup_retry.h). Worker thread.
  void ScheduleSetupRetry();
  void RetrySetup();
  void DoHandOver(const TaskRef& task, std::function<void(HandoverReport)> done);
  // `step`: the hand-over_step_ the job was scheduled for; a stale one does nothing.
  void ContinueHandOver(uint64_t step);
  void ScheduleHandOverStep();
  void FinishHandOver(const HandoverReport& report);
  void DoStarted(const TaskRef& task, std::optional<config::ReadyCheck> ready, Life entry);
  void DoExited(const TaskRef& task, const std::string& how);
  void DoStopping(const TaskRef& task, bool aborted);
  void DoDestroyed(const TaskRef& task);
  void GraceExpired(const std::string& task_id, uint64_t generation);
  void StartProbing(Guarded* guarded);
  void ProbeAttempt(const std::string& task_id, uint64_t generation);
  // Moves `guarded` to `to` if kLifeTransitions allows it; otherwise logs a bug and returns
  // false. Persists the hand-over list when stopping is entered or left.
  bool SetLife(Guarded* guarded, Life to, absl::string_view cause);
  // Registers the task's exit watch (once). True when the task has already ended (the watch
  // reported during the call; its DoExited is queued).
  bool Watch(Guarded* guarded);
  // Applies the hold/restore rules; `reason` and `cause` go into the event text.
  void Evaluate(const TaskRef& cause, const std::string& reason);
  // Applies our share through the ledger; a demotion the disk could not record is applied
  // anyway and reported (event on `cause`, error log).
  absl::StatusOr<LedgerChange> EnsureDemoted(const TaskRef& cause);
  void RefreshStatus();
  void UpdateShare();
  void SaveHandovers();
  Guarded* Find(const std::string& task_id);
  Guarded* FindOrAdd(const TaskRef& task);
  FailoverHandshake::Parts HandshakeParts();
  // handover = "resign": opens parts_.resigner once (Setup); a failure is a warning.
  void OpenResigner();

  const config::FailoverConfig config_;
  const std::string state_dir_;
  fingerprint::CommandRunner* runner_;
  Clock* clock_;
  EventSink* sink_;
  Parts parts_;
  bool resign_open_failed_ = false;  // warned once; hand-overs stay weighted
  std::shared_ptr<Liveness> liveness_;

  // Worker-thread state (touched only by jobs, or by Start before the worker exists).
  std::unique_ptr<FailoverLock> lock_;  // <state_dir>/failover/lock, held while we live
  std::unique_ptr<DemotionLedger> ledger_;
  absl::Status setup_error_;
  int setup_retries_ = 0;        // failed retries since the last success
  int live_check_failures_ = 0;  // consecutive failed live checks (RefreshStatus)
  absl::flat_hash_map<std::string, Guarded> guarded_;
  // Read once at Start, before the setup: ids of tasks whose hand-over was recorded by the
  // previous plugin process and that the coordinator has not met yet. Kept in the handovers file
  // (SaveHandovers) until the task is recovered, exits, is destroyed, or a successful setup's
  // state-dir scan does not find it running. `handovers_unreadable_`: the file could not be
  // read, so every task recovered before that scan is treated as recorded.
  absl::flat_hash_set<std::string> recorded_handovers_;
  bool handovers_unreadable_ = false;
  std::unique_ptr<FailoverHandshake> handover_;  // the hand-over in progress, if any
  std::vector<Waiter> waiters_;                  // the stops it will release
  uint64_t handover_step_ = 0;                   // bumped for each scheduled Continue
  uint64_t handover_id_ = 0;                     // bumped for each hand-over with a waker
  std::unique_ptr<ChangeWaker> waker_;           // its change events, if any (real clock)

  absl::Mutex mu_;
  FailoverStatus status_ ABSL_GUARDED_BY(mu_);
  bool refresh_pending_ ABSL_GUARDED_BY(mu_) = false;

  std::unique_ptr<SerialWorker> worker_;  // last: destroyed first
};

// Identifies the running boot, so the ledger can tell that a reboot reset the counters: the
// boot token (driver/tasks/boot_token.h; not kern.boottime, which a clock step moves). Empty,
// with a warning logged, when it cannot be read (then reboots are only detected by a counter
// below our share).
std::string ReadBootId();

// The backend the config asks for, running its tools through `runner`.
// The config's IPv4 `vip`s in host byte order (what OwnAdvertStore matches adverts against).
std::vector<uint32_t> Ipv4Vips(const config::FailoverConfig& config);

std::unique_ptr<DemotionBackend> MakeDemotionBackend(const config::FailoverConfig& config,
                                                     fingerprint::CommandRunner* runner);

}  // namespace carp_exec::failover
