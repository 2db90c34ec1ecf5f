#pragma once
// The failover side of the driver, as the service adapter sees it. One coordinator per plugin
// when the plugin config has a `failover` block.
//
// It decides when this node is demoted:
//   - StopTask of a guarded task demotes (once, via the ledger) and hands the VIP over before
//     the task is signalled (FailoverHandshake);
//   - the node stays demoted while no guarded task here is running *and ready*;
//   - our share is restored only when a guarded task is running and its ready check passed
//     (at once if it has no ready block), and no hand-over is in progress;
//   - a guarded task that exits unexpectedly demotes the node at once (the peer takes the IP);
//   - at plugin start the decision comes from the state directory (ScanStateDir), not from
//     RecoverTask: no live guarded task ⇒ demoted; a live one ⇒ the current state is kept, so a
//     plugin or Nomad client restart while the task serves never moves the IP. A live task that
//     was being handed over when the plugin died keeps the node demoted.
//
// All work runs on one worker thread (SerialWorker): API calls return at once and completion is
// reported through callbacks and events. Thread-safe.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "driver/config/plugin_config.h"
#include "driver/config/task_config.h"
#include "driver/failover/clock.h"
#include "driver/failover/demotion_backend.h"
#include "driver/failover/demotion_ledger.h"
#include "driver/failover/failover_event.h"
#include "driver/failover/failover_handshake.h"
#include "driver/failover/ready_probe.h"
#include "driver/failover/serial_worker.h"
#include "driver/tasks/task_types.h"
#include "fingerprint/command_runner.h"
#include "fingerprint/node_observer.h"

namespace carp_exec::failover {

// For the fingerprint: driver.carp_exec.failover.{backend,state,demoted} and health.
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
  // Replaceable parts, for tests. Anything left empty is built from the config.
  struct Parts {
    std::unique_ptr<fingerprint::NodeObserver> observer;
    std::unique_ptr<DemotionBackend> backend;
    std::unique_ptr<ReadyProber> prober;
    std::optional<std::string> boot_id;
    LedgerInterrupt ledger_interrupt;
  };

  // `runner`, `clock` and `sink` are not owned and must outlive the coordinator. `state_dir` is
  // the plugin's; the coordinator keeps its files in <state_dir>/failover/. Nothing runs until
  // Start().
  FailoverCoordinator(config::FailoverConfig config, std::string state_dir,
                      fingerprint::CommandRunner* runner, Clock* clock, EventSink* sink,
                      Parts parts = {});
  // Stops the worker. Hand-overs not yet started complete with a Cancelled error.
  ~FailoverCoordinator();
  FailoverCoordinator(const FailoverCoordinator&) = delete;
  FailoverCoordinator& operator=(const FailoverCoordinator&) = delete;

  // Builds the observer and backend, reconciles the ledger, and decides from `tasks` (what
  // tasks::ScanStateDir found) whether the node must be demoted; then starts the worker. Blocks
  // while it runs the backend's tools (a few commands). An error (config unusable, corrupt
  // ledger, tool missing) is also what Status() reports as unusable; the coordinator still
  // starts, and hand-overs then report the error and let the task be stopped without one.
  // After an error the setup is tried again on the worker with bounded backoff
  // (setup_retry.h) until it works; then the decision is taken from a fresh state-dir scan.
  absl::Status Start(const std::vector<tasks::PersistedTask>& tasks);

  // StopTask of a guarded task, before it signals the task: demote, confirm, settle. `done`
  // runs on the worker thread when the task may be signalled (always exactly once; with
  // report.error set on failure or shutdown). Concurrent stops share one demotion.
  void HandOver(TaskRef task, std::function<void(HandoverReport)> done);

  // A guarded task runs (StartTask, or RecoverTask of one the coordinator does not know yet).
  // Runs `ready` every interval until it passes (then restores, if nothing else keeps the node
  // demoted) or until its timeout (the node stays demoted; an event says so). Without a ready
  // block the task counts as ready at once. Calling it again for a known task is harmless.
  void GuardedTaskStarted(TaskRef task, std::optional<config::ReadyCheck> ready);

  // The task's process ended. `during_stop` is true when it follows HandOver (StopTask);
  // otherwise it is a crash and the node is demoted at once.
  void GuardedTaskExited(TaskRef task, bool during_stop);

  // DestroyTask: the coordinator forgets the task.
  void GuardedTaskDestroyed(TaskRef task);

  // The last observation and our share; never blocks on the worker. Asks the worker for a fresh
  // observation when the last one is older than `kStatusRefresh`, so repeated fingerprints see
  // current data.
  FailoverStatus Status();
  static constexpr absl::Duration kStatusRefresh = absl::Seconds(5);

  // Waits until everything posted before it has run (timed work due later, such as the next
  // ready-probe attempt, is not waited for). For tests; never call from the worker thread.
  void Flush();

 private:
  enum class Life { kStarting, kRecovered, kReady, kNotReady, kStopping, kExited };
  struct Guarded {
    TaskRef ref;
    Life life = Life::kStarting;
    std::optional<config::ReadyCheck> ready;
    absl::Time probe_started;
    bool probing = false;
    uint64_t probe_generation = 0;  // bumped to cancel scheduled probe attempts
    std::string ready_detail;       // "task ready (http://... 200 after 1.2 s)"
    std::unique_ptr<FailoverHandshake> handshake;
  };

  absl::Status Setup();
  void DecideAtStart(const std::vector<tasks::PersistedTask>& tasks);
  // Setup retry after a failed Start (setup_retry.h). Worker thread.
  void ScheduleSetupRetry();
  void RetrySetup();
  void DoHandOver(const TaskRef& task, const std::function<void(HandoverReport)>& done);
  void DoStarted(const TaskRef& task, std::optional<config::ReadyCheck> ready);
  void DoExited(const TaskRef& task, bool during_stop);
  void DoDestroyed(const TaskRef& task);
  void StartProbing(Guarded* guarded);
  void ProbeAttempt(const std::string& task_id, uint64_t generation);
  // Applies the hold/restore rules; `reason` and `cause` go into the event text.
  void Evaluate(const TaskRef& cause, const std::string& reason);
  absl::StatusOr<LedgerChange> EnsureDemoted();
  void RefreshStatus();
  void UpdateShare();
  void SaveHandovers();
  Guarded* Find(const std::string& task_id);
  Guarded* FindOrAdd(const TaskRef& task);
  FailoverHandshake::Parts HandshakeParts();

  const config::FailoverConfig config_;
  const std::string state_dir_;
  fingerprint::CommandRunner* runner_;
  Clock* clock_;
  EventSink* sink_;
  Parts parts_;

  // Worker-thread state (touched only by jobs, or by Start before the worker exists).
  std::unique_ptr<DemotionLedger> ledger_;
  absl::Status setup_error_;
  int setup_retries_ = 0;        // failed retries since the last success
  int live_check_failures_ = 0;  // consecutive failed live checks (RefreshStatus)
  absl::flat_hash_map<std::string, Guarded> guarded_;

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
std::unique_ptr<DemotionBackend> MakeDemotionBackend(const config::FailoverConfig& config,
                                                     fingerprint::CommandRunner* runner);

}  // namespace carp_exec::failover
