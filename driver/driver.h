#pragma once
// Driver: the plugin's behaviour behind the gRPC adapters (service/). It owns the validated
// plugin configuration, the TaskRunner (tasks and their supervisors) and, when a `failover`
// block is configured, the FailoverCoordinator. The adapters translate protobuf to these
// calls and map errors to gRPC status codes; nothing here knows about gRPC.
//
// Activation. Nomad launches the plugin three times at agent start-up (schema; SetConfig
// validation without agent config; the kept instance). Only the kept instance may touch the
// state directory or the node's demotion, so the runtime starts on the first of: SetConfig
// carrying nomad_config, Init, Fingerprint, or any task RPC — never on a bare SetConfig.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "driver/config/plugin_config.h"
#include "driver/config/task_config.h"
#include "driver/failover/clock.h"
#include "driver/failover/failover_coordinator.h"
#include "driver/failover/failover_event.h"
#include "driver/tasks/exec_command.h"
#include "driver/tasks/process_stats.h"
#include "driver/tasks/task_runner.h"
#include "driver/tasks/task_types.h"
#include "fingerprint/command_runner.h"

namespace carp_exec {

// A value of a fingerprint attribute: Nomad's Attribute is a oneof of these.
struct FingerprintAttribute {
  enum class Kind { kBool, kInt, kString } kind = Kind::kString;
  bool bool_value = false;
  int64_t int_value = 0;
  std::string string_value;
};

struct FingerprintReport {
  enum class Health { kUndetected, kUnhealthy, kHealthy } health = Health::kUndetected;
  std::string description;
  std::map<std::string, FingerprintAttribute> attributes;
  bool operator==(const FingerprintReport& other) const;
};

// What StartTask needs beyond the decoded task config.
struct StartRequest {
  tasks::LaunchSpec launch;    // filled from TaskConfig; command/args/work_dir from config
  std::string msgpack_config;  // TaskConfig.msgpack_driver_config
};

class Driver {
 public:
  struct Options {
    std::string self_exe;  // this binary, re-executed as `carp_exec supervise`
  };
  explicit Driver(Options options);
  // Shuts down, then waits for an activation still running on another thread. Destroy the
  // Driver only once no call into it is in progress (the gRPC server has stopped).
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Validates and stores the plugin config (empty bytes = all defaults). Idempotent; may be
  // called many times. `from_agent` is true when Nomad sent nomad_config (the kept instance),
  // which activates the runtime. An invalid config is an error naming the field; the previous
  // config stays in force.
  absl::Status SetConfig(absl::string_view msgpack, bool from_agent);
  // The node's CPU from nomad_config's topology, for TaskStats' total_ticks (MHz used).
  void SetCpuCompute(tasks::CpuCompute compute);
  // Driver.Init: activates the runtime. Idempotent.
  absl::Status Init();

  // Where task events go (set once, before serving). Called from worker threads.
  void SetEventSink(failover::EventSink* sink);
  // Runs work on a thread pool (the service's blocking pool). The stops a hand-over releases
  // are posted there, so N stops released by one shared hand-over are signalled side by side,
  // not one after another on the failover worker. Unset (or reset to null before the pool
  // goes): they run on the worker. Work already posted must still run (the pool drains its
  // queue before it is destroyed).
  using Poster = std::function<void(std::function<void()>)>;
  void SetStopPoster(Poster poster) ABSL_LOCKS_EXCLUDED(mu_);

  FingerprintReport Fingerprint();

  // Only StartTask is refused while the plugin config says enabled = false (like raw_exec):
  // tasks started before the operator disabled the driver stay recoverable and stoppable.
  absl::StatusOr<tasks::StartedTask> StartTask(StartRequest request);
  absl::Status RecoverTask(absl::string_view task_id, absl::string_view driver_state);
  tasks::WaitHandle WaitTask(absl::string_view task_id, tasks::WaitCallback done);
  bool CancelWait(tasks::WaitHandle handle);
  // Hands the FailOver IP over first when the task is guarded, then stops it. `signal` empty
  // means SIGINT (raw_exec's default). `done` runs once, on a worker thread.
  void StopTask(absl::string_view task_id, absl::Duration timeout, absl::string_view signal,
                std::function<void(absl::Status)> done);
  absl::Status DestroyTask(absl::string_view task_id, bool force);
  absl::StatusOr<tasks::TaskStatus> InspectTask(absl::string_view task_id);
  absl::Status SignalTask(absl::string_view task_id, absl::string_view signal);
  absl::StatusOr<tasks::TaskStats> TaskStats(absl::string_view task_id);
  // The command line `argv` prepared to run like the task: its environment, work dir and user.
  absl::StatusOr<tasks::ExecCommand> ExecContext(absl::string_view task_id,
                                                 std::vector<std::string> argv);

  // Agent shutdown (Driver.Shutdown) and plugin exit: release threads; tasks keep running.
  // Returns once the calls in progress are done with the runtime and it is destroyed; later
  // calls fail with a recoverable "shutting down" error.
  void Shutdown();

 private:
  // A call's hold on the runtime. Shutdown waits until every lease is returned before it
  // destroys the coordinator and the runner, so a call in progress never sees them vanish.
  // Deferred work (the stop after a hand-over) needs no lease: the coordinator, which runs or
  // posts it, is destroyed before the runner, and Shutdown waits for posted stops
  // (pending_stops_) in between.
  class Lease {
   public:
    Lease(Driver* driver, tasks::TaskRunner* runner, failover::FailoverCoordinator* coordinator,
          tasks::ProcessTable* process_table)
        : driver_(driver),
          runner_(runner),
          coordinator_(coordinator),
          process_table_(process_table) {}
    Lease(Lease&& other) noexcept
        : driver_(std::exchange(other.driver_, nullptr)),
          runner_(other.runner_),
          coordinator_(other.coordinator_),
          process_table_(other.process_table_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();

    tasks::TaskRunner* runner() const { return runner_; }
    // Null when no failover block is configured.
    failover::FailoverCoordinator* coordinator() const { return coordinator_; }
    tasks::ProcessTable* process_table() const { return process_table_; }

   private:
    Driver* driver_;
    tasks::TaskRunner* runner_;
    failover::FailoverCoordinator* coordinator_;
    tasks::ProcessTable* process_table_;
  };

  // Starts the runtime once (later calls return the first outcome). The slow part — the state
  // directory, the supervisor check, the failover backend's tools — runs without mu_ held;
  // concurrent callers wait for it. A Shutdown meanwhile wins: what was built is discarded.
  absl::Status Activate() ABSL_LOCKS_EXCLUDED(mu_);
  // Nothing to wait for: no activation runs, or Shutdown made its outcome irrelevant.
  bool ActivationSettled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !activating_ || shut_down_;
  }
  // Activates if needed and leases the runtime. `for_start`: also refuse when the plugin
  // config says enabled = false.
  absl::StatusOr<Lease> Acquire(bool for_start = false) ABSL_LOCKS_EXCLUDED(mu_);
  // driver.carp_exec.failover{,.backend,.group} and, when unusable, the reason in the health
  // description (the driver itself stays healthy).
  void AddFailoverAttributes(const failover::FailoverStatus& status, FingerprintReport* report)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A forced DestroyTask of an id the runner does not know: cleans it from the state dir.
  absl::Status DestroyUnknownTask(const Lease& lease, absl::string_view task_id);
  // A task event on a guarded task started while failover is unusable.
  void WarnIfFailoverUnusable(failover::FailoverCoordinator* coordinator,
                              const failover::TaskRef& ref);

  const Options options_;
  const std::unique_ptr<fingerprint::CommandRunner> command_runner_;  // failover tools
  const std::unique_ptr<failover::Clock> clock_;
  absl::Mutex mu_;
  config::PluginConfig config_ ABSL_GUARDED_BY(mu_);
  bool configured_ ABSL_GUARDED_BY(mu_) = false;
  tasks::CpuCompute cpu_compute_ ABSL_GUARDED_BY(mu_);
  bool activating_ ABSL_GUARDED_BY(mu_) = false;  // Activate() is building the runtime
  bool active_ ABSL_GUARDED_BY(mu_) = false;      // it finished; activation_error_ says how
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  int leases_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status activation_error_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<tasks::TaskRunner> runner_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<failover::FailoverCoordinator> coordinator_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<tasks::ProcessTable> process_table_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<tasks::TaskStatsSampler>> samplers_
      ABSL_GUARDED_BY(mu_);
  failover::EventSink* sink_ = nullptr;
  Poster stop_poster_ ABSL_GUARDED_BY(mu_);
  // Stops posted to stop_poster_ that have not run yet: Shutdown keeps the runner until 0.
  int pending_stops_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace carp_exec
