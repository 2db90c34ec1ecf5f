#include "driver/driver.h"

#include <fnmatch.h>
#include <signal.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "carp_exec/version.h"
#include "driver/failover/ready_probe.h"
#include "driver/log/hclog.h"
#include "driver/mutex_lock.h"
#include "driver/tasks/signal_names.h"
#include "driver/tasks/state_dir.h"
#include "driver/tasks/task_errors.h"
#include "fingerprint/command_runner.h"

namespace carp_exec {
namespace {

constexpr char kModule[] = "carp_exec";

FingerprintAttribute BoolAttr(bool v) {
  FingerprintAttribute a;
  a.kind = FingerprintAttribute::Kind::kBool;
  a.bool_value = v;
  return a;
}
FingerprintAttribute StringAttr(std::string v) {
  FingerprintAttribute a;
  a.kind = FingerprintAttribute::Kind::kString;
  a.string_value = std::move(v);
  return a;
}

bool MatchesAny(const std::string& name, const std::vector<std::string>& globs) {
  for (const std::string& g : globs) {
    if (::fnmatch(g.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

failover::TaskRef RefOf(const tasks::LaunchSpec& spec) {
  return failover::TaskRef{spec.task_id, spec.alloc_id, spec.task_name};
}

// For the failover events: "exited with status 0", "killed by SIGTERM".
std::string DescribeExit(const tasks::ExitResult& result) {
  if (!result.err.empty()) return absl::StrCat("ended (", result.err, ")");
  if (result.signal != 0) return absl::StrCat("killed by ", tasks::SignalName(result.signal));
  return absl::StrCat("exited with status ", result.exit_code);
}

// How the coordinator learns of a guarded task's exit: a runner Wait of its own.
failover::FailoverCoordinator::ExitWatch ExitWatchOn(tasks::TaskRunner* runner) {
  return [runner](const std::string& task_id, std::function<void(std::string)> on_exit) {
    if (!runner->Inspect(task_id).ok()) return false;  // not recovered into the runner yet
    runner->Wait(task_id,
                 [on_exit = std::move(on_exit)](const absl::StatusOr<tasks::ExitResult>& result) {
                   // Not an exit: the runner shut down (the task keeps running) or forgot the task.
                   if (result.ok()) on_exit(DescribeExit(*result));
                 });
    return true;
  };
}

}  // namespace

bool FingerprintReport::operator==(const FingerprintReport& other) const {
  if (health != other.health || description != other.description ||
      attributes.size() != other.attributes.size()) {
    return false;
  }
  for (const auto& [key, a] : attributes) {
    auto it = other.attributes.find(key);
    if (it == other.attributes.end()) return false;
    const FingerprintAttribute& b = it->second;
    if (a.kind != b.kind || a.bool_value != b.bool_value || a.int_value != b.int_value ||
        a.string_value != b.string_value) {
      return false;
    }
  }
  return true;
}

Driver::Driver(Options options)
    : options_(std::move(options)),
      command_runner_(std::make_unique<fingerprint::SystemCommandRunner>()),
      clock_(std::make_unique<failover::RealClock>()) {}

Driver::~Driver() {
  Shutdown();
  // An activation that lost the race with Shutdown is still discarding what it built.
  carp_exec::MutexLock lock(mu_);
  mu_.Await(absl::Condition(
      +[](bool* activating) { return !*activating; }, &activating_));
}

Driver::Lease::~Lease() {
  if (driver_ == nullptr) return;
  carp_exec::MutexLock lock(driver_->mu_);
  --driver_->leases_;
}

void Driver::SetEventSink(failover::EventSink* sink) { sink_ = sink; }

void Driver::SetStopPoster(Poster poster) {
  carp_exec::MutexLock lock(mu_);
  stop_poster_ = std::move(poster);
}

absl::Status Driver::SetConfig(absl::string_view msgpack, bool from_agent) {
  absl::StatusOr<config::PluginConfig> decoded = config::DecodePluginConfig(msgpack);
  if (!decoded.ok()) return decoded.status();
  {
    carp_exec::MutexLock lock(mu_);
    if ((active_ || activating_) && decoded->state_dir != config_.state_dir) {
      return absl::FailedPreconditionError(absl::StrCat(
          "plugin config: state_dir cannot change while the plugin runs (running with \"",
          config_.state_dir, "\", got \"", decoded->state_dir,
          "\"); restart the Nomad client to move the state directory"));
    }
    config_ = *std::move(decoded);
    configured_ = true;
    log::SetLevel(config_.log_level);
  }
  if (from_agent) return Activate();
  return absl::OkStatus();
}

void Driver::SetCpuCompute(tasks::CpuCompute compute) {
  carp_exec::MutexLock lock(mu_);
  cpu_compute_ = compute;
}

absl::Status Driver::Init() { return Activate(); }

namespace {

// What activation builds; destroyed coordinator first (it may still call into the runner).
struct Runtime {
  std::unique_ptr<tasks::TaskRunner> runner;
  std::unique_ptr<tasks::ProcessTable> process_table;
  std::unique_ptr<failover::FailoverCoordinator> coordinator;
  absl::Status status;
};

}  // namespace

absl::Status Driver::Activate() {
  config::PluginConfig config;
  {
    carp_exec::MutexLock lock(mu_);
    mu_.Await(absl::Condition(this, &Driver::ActivationSettled));
    if (active_ || shut_down_) return activation_error_;
    if (!configured_) {
      // Reattached or called before SetConfig: run with the defaults, like an empty config block.
      absl::StatusOr<config::PluginConfig> defaults = config::DecodePluginConfig("");
      if (defaults.ok()) config_ = *std::move(defaults);
      configured_ = true;
    }
    activating_ = true;
    config = config_;
  }

  Runtime built;
  tasks::TaskRunnerOptions options;
  options.state_dir = config.state_dir;
  options.supervisor_path = options_.self_exe;
  options.denied_uids = tasks::IdRanges::FromConfig(config.denied_host_uids);
  options.denied_gids = tasks::IdRanges::FromConfig(config.denied_host_gids);
  absl::StatusOr<std::unique_ptr<tasks::TaskRunner>> runner =
      tasks::TaskRunner::Create(std::move(options));
  if (runner.ok()) {
    built.runner = *std::move(runner);
    built.process_table = std::make_unique<tasks::ProcessTable>(tasks::NativeProcessSource());
    if (config.failover.has_value()) {
      failover::FailoverCoordinator::Parts parts;
      // The coordinator is destroyed before the runner (Runtime, Shutdown), and ignores
      // watches that fire after it is gone.
      parts.watch_exit = ExitWatchOn(built.runner.get());
      built.coordinator = std::make_unique<failover::FailoverCoordinator>(
          *config.failover, config.state_dir, command_runner_.get(), clock_.get(), sink_,
          std::move(parts));
      // Decide from the state directory, not from RecoverTask (which may come much later): a
      // plugin restart while a guarded task serves must never move the IP.
      const std::vector<tasks::PersistedTask> persisted = tasks::ScanStateDir(config.state_dir);
      if (absl::Status s = built.coordinator->Start(persisted); !s.ok()) {
        // The driver stays healthy: the fingerprint sets failover = "unusable" with this
        // reason, and the setup is retried with backoff (setup_retry.h); tasks still run.
        log::Error(kModule, "failover is not usable", {{"error", s.message()}});
      }
    }
  } else {
    built.status = runner.status();
    log::Error(kModule, "cannot start the task runner", {{"error", runner.status().message()}});
  }

  {
    carp_exec::MutexLock lock(mu_);
    activating_ = false;
    if (!shut_down_) {
      active_ = true;
      activation_error_ = built.status;
      runner_ = std::move(built.runner);
      process_table_ = std::move(built.process_table);
      coordinator_ = std::move(built.coordinator);
      if (!activation_error_.ok()) return activation_error_;
      log::Info(
          kModule, "driver active",
          {{"state_dir", config.state_dir},
           {"failover", config.failover.has_value()
                            ? std::string(config::FailoverBackendName(config.failover->backend))
                            : "off"}});
      return absl::OkStatus();
    }
  }
  // Shutdown came while we were building: nothing of it may outlive the plugin's shutdown.
  built.coordinator.reset();
  built.runner.reset();
  carp_exec::MutexLock lock(mu_);
  return activation_error_;
}

absl::StatusOr<Driver::Lease> Driver::Acquire(bool for_start) {
  const absl::Status activated = Activate();
  carp_exec::MutexLock lock(mu_);
  if (shut_down_) return activation_error_;
  if (!activated.ok()) return activated;
  if (for_start && !config_.enabled) {
    return absl::FailedPreconditionError(
        "carp_exec is disabled (plugin config enabled = false); set enabled = true in the "
        "plugin \"carp_exec\" config block to run tasks");
  }
  ++leases_;
  return Lease(this, runner_.get(), coordinator_.get(), process_table_.get());
}

FingerprintReport Driver::Fingerprint() {
  FingerprintReport report;
  absl::StatusOr<Lease> lease = Acquire();
  {
    carp_exec::MutexLock lock(mu_);
    if (!config_.enabled) {
      report.health = FingerprintReport::Health::kUndetected;
      report.description = "disabled";
      return report;
    }
  }
  report.attributes["driver.carp_exec"] = BoolAttr(true);
  report.attributes["driver.carp_exec.version"] = StringAttr(kPluginVersion);
  if (!lease.ok()) {
    report.health = FingerprintReport::Health::kUnhealthy;
    report.description = std::string(lease.status().message());
    return report;
  }
  // Failover trouble never makes the driver unhealthy: Nomad places nothing of an unhealthy
  // driver on the node (scheduler/feasible/feasible.go, DriverChecker), so jobs without
  // failover would be blocked too. It is an attribute jobs can constrain on instead.
  report.health = FingerprintReport::Health::kHealthy;
  report.description = "Healthy";
  if (failover::FailoverCoordinator* coordinator = lease->coordinator(); coordinator != nullptr) {
    AddFailoverAttributes(coordinator->Status(), &report);
  }
  return report;
}

void Driver::AddFailoverAttributes(const failover::FailoverStatus& status,
                                   FingerprintReport* report) {
  // Only what changes with the setup: every attribute change re-registers the node and the
  // server then evaluates every job on it (nomad/node_endpoint.go, shouldCreateNodeEval). The
  // live CARP state and our demotion are in `carp_exec status`, task events and the log.
  // Nomad copies these names as they are (client/pluginmanager/drivermanager/instance.go,
  // handleFingerprint; client/node_updater.go, applyNodeUpdatesFromDriver): the driver.<name>.
  // prefix is ours to write.
  report->attributes["driver.carp_exec.failover"] =
      StringAttr(status.usable ? "usable" : "unusable");
  report->attributes["driver.carp_exec.failover.backend"] = StringAttr(status.backend);
  {
    carp_exec::MutexLock lock(mu_);
    if (config_.failover.has_value() &&
        config_.failover->backend == config::FailoverBackend::kOpenBsdCarp) {
      report->attributes["driver.carp_exec.failover.group"] = StringAttr(config_.failover->group);
    }
  }
  if (!status.usable) {
    report->description = absl::StrCat(
        "Healthy; failover unusable (guarded tasks stop without a hand-over): ", status.unhealthy);
  }
}

absl::StatusOr<tasks::StartedTask> Driver::StartTask(StartRequest request) {
  absl::StatusOr<Lease> lease = Acquire(/*for_start=*/true);
  if (!lease.ok()) return lease.status();
  absl::StatusOr<config::TaskConfig> task = config::DecodeTaskConfig(request.msgpack_config);
  if (!task.ok()) return task.status();
  // The ready probe runs in the plugin, in the host's network: for a task in the group's
  // network namespace it would check the host's loopback, never the task (and would let a job
  // probe host-only ports as root). Refused until the probe joins the namespace.
  if (task->ready.has_value() && !request.launch.netns_path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task ", request.launch.task_id, ": ready checks a task in the group's network namespace (",
        request.launch.netns_path,
        ") from the host's network, which would never see the task; drop the ready block or "
        "use the group's host network mode"));
  }
  failover::FailoverCoordinator* coordinator = lease->coordinator();
  if (task->failover && coordinator == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "task ", request.launch.task_id,
        ": config has failover = true but the plugin has no failover block; add "
        "failover { backend = ... } to the plugin \"carp_exec\" config or drop failover = true"));
  }
  tasks::LaunchSpec& launch = request.launch;
  launch.command = task->command;
  launch.args = task->args;
  if (!task->work_dir.empty()) launch.work_dir = task->work_dir;
  launch.guarded = task->failover;
#if defined(__linux__)
  launch.oom_score_adj = task->oom_score_adj;
#else
  if (task->oom_score_adj != 0) {
    log::Debug(kModule, "oom_score_adj is Linux-only; ignored",
               {{"task_id", launch.task_id}, {"oom_score_adj", absl::StrCat(task->oom_score_adj)}});
  }
#endif
  // The ready check is kept with the task: Nomad does not give msgpack_driver_config back after
  // an agent restart, and the failover logic re-checks a recovered task with it.
  launch.ready = failover::EncodeReadyCheck(task->ready);
  std::vector<std::string> denied;
  {
    carp_exec::MutexLock lock(mu_);
    denied = config_.denied_envvars;
  }
  denied.insert(denied.end(), task->denied_envvars.begin(), task->denied_envvars.end());
  if (!denied.empty()) {
    for (auto it = launch.env.begin(); it != launch.env.end();) {
      it = MatchesAny(it->first, denied) ? launch.env.erase(it) : std::next(it);
    }
  }
  absl::StatusOr<tasks::StartedTask> started = lease->runner()->Start(launch);
  if (!started.ok()) return started.status();
  if (task->failover) {
    const failover::TaskRef ref = RefOf(launch);
    WarnIfFailoverUnusable(coordinator, ref);
    coordinator->GuardedTaskStarted(ref, task->ready);
  }
  return started;
}

void Driver::WarnIfFailoverUnusable(failover::FailoverCoordinator* coordinator,
                                    const failover::TaskRef& ref) {
  const failover::FailoverStatus status = coordinator->Status();
  if (status.usable || sink_ == nullptr) return;
  failover::FailoverEvent event;
  event.task = ref;
  event.message = absl::StrCat(
      "failover is unusable on this node (", status.unhealthy,
      "): this task will be stopped without a hand-over until it is fixed; constrain the job on "
      "${attr.driver.carp_exec.failover} = \"usable\" to keep it off such nodes");
  event.annotations = {{"phase", "node"}, {"error", "setup"}, {"backend", status.backend}};
  sink_->Emit(event);
}

absl::Status Driver::RecoverTask(absl::string_view task_id, absl::string_view driver_state) {
  absl::StatusOr<Lease> lease = Acquire();
  if (!lease.ok()) return lease.status();
  tasks::TaskRunner* runner = lease->runner();
  const bool known = runner->Inspect(task_id).ok();
  failover::FailoverCoordinator* coordinator = lease->coordinator();
  if (absl::Status s = runner->Recover(task_id, driver_state); !s.ok()) {
    // Nomad gives up on the task (it destroys and restarts it: restoreHandle in
    // client/allocrunner/taskrunner/task_runner.go): for the failover it has ended,
    // so a task the state-dir scan or the handovers file made known no longer holds the node's
    // decision. A task the coordinator does not know is ignored there.
    if (!known && coordinator != nullptr) {
      coordinator->GuardedTaskExited(failover::TaskRefFromId(std::string(task_id)),
                                     absl::StrCat("could not be recovered (", s.message(), ")"));
    }
    return s;
  }
  if (known) return absl::OkStatus();
  absl::StatusOr<tasks::TaskStatus> status = runner->Inspect(task_id);
  if (!status.ok() || !status->guarded || coordinator == nullptr) return absl::OkStatus();
  const failover::TaskRef ref{status->task_id, status->alloc_id, status->task_name};
  absl::StatusOr<std::optional<config::ReadyCheck>> ready =
      failover::DecodeReadyCheck(status->ready);
  // Whatever its state: the coordinator's exit watch reports a task that already ended at once,
  // so it is not kept "recovered" (holding the node's hold/restore decision) until DestroyTask.
  coordinator->GuardedTaskRecovered(ref, ready.ok() ? *ready : std::nullopt);
  return absl::OkStatus();
}

tasks::WaitHandle Driver::WaitTask(absl::string_view task_id, tasks::WaitCallback done) {
  absl::StatusOr<Lease> lease = Acquire();
  if (!lease.ok()) {
    done(lease.status());
    return 0;
  }
  return lease->runner()->Wait(task_id, std::move(done));
}

bool Driver::CancelWait(tasks::WaitHandle handle) {
  absl::StatusOr<Lease> lease = Acquire();
  return lease.ok() && lease->runner()->CancelWait(handle);
}

void Driver::StopTask(absl::string_view task_id_view, absl::Duration timeout,
                      absl::string_view signal, std::function<void(absl::Status)> done) {
  const std::string task_id(task_id_view);
  absl::StatusOr<Lease> lease = Acquire();
  if (!lease.ok()) return done(lease.status());
  int signo = SIGINT;  // raw_exec's default when the job names none
  if (!signal.empty()) {
    absl::StatusOr<int> parsed = tasks::ParseSignalName(signal);
    if (!parsed.ok()) return done(parsed.status());
    signo = *parsed;
  }
  tasks::TaskRunner* r = lease->runner();
  absl::StatusOr<tasks::TaskStatus> status = r->Inspect(task_id);
  if (!status.ok()) return done(status.status());
  // Safe after the lease ends: the coordinator that may run it later dies before the runner.
  auto stop = [r, task_id, timeout, signo, done = std::move(done)]() {
    r->Stop(task_id, timeout, signo, done);
  };
  failover::FailoverCoordinator* coordinator = lease->coordinator();
  if (!status->guarded || coordinator == nullptr || status->state != tasks::TaskState::kRunning) {
    return stop();
  }
  // Hand the FailOver IP over first (the coordinator now counts the task as stopping, so the
  // exit that follows is not a crash); the coordinator reports (as task events) what happened
  // and calls back, on its worker, when the task may be signalled, confirmed or not. After a
  // wait the signal goes out from the stop pool, so the stops one shared hand-over releases do
  // not queue behind each other on the worker; a stop released without a wait (a BACKUP node,
  // a failed demotion) is alone and is signalled at once, saving the hop to the pool.
  coordinator->HandOver(
      failover::TaskRef{status->task_id, status->alloc_id, status->task_name},
      [this, stop = std::move(stop)](const failover::HandoverReport& report) mutable {
        if (report.waited) {
          Poster poster;
          {
            carp_exec::MutexLock lock(mu_);
            poster = stop_poster_;
            if (poster) ++pending_stops_;  // counted before the lock ends: Shutdown waits
          }
          // Called without mu_: the pool queues and never runs the work inline, but a call out
          // under our lock is what STYLE.md rules out.
          if (poster) {
            poster([this, stop = std::move(stop)] {
              stop();
              carp_exec::MutexLock done_lock(mu_);
              --pending_stops_;
            });
            return;
          }
        }
        stop();
      });
}

absl::Status Driver::DestroyTask(absl::string_view task_id, bool force) {
  absl::StatusOr<Lease> lease = Acquire();
  if (!lease.ok()) return lease.status();
  tasks::TaskRunner* runner = lease->runner();
  absl::StatusOr<tasks::TaskStatus> status = runner->Inspect(task_id);
  if (absl::IsNotFound(status.status()) && force) {
    return DestroyUnknownTask(*lease, task_id);
  }
  failover::FailoverCoordinator* coordinator = lease->coordinator();
  const bool guarded = status.ok() && status->guarded && coordinator != nullptr;
  const failover::TaskRef ref =
      guarded ? failover::TaskRef{status->task_id, status->alloc_id, status->task_name}
              : failover::TaskRef{};
  // A forced destroy of a running guarded task is Nomad's decision, not a crash: the task
  // counts as stopping (the node does not serve under it, and its exit is expected).
  const bool forced_stop = guarded && force && status->state == tasks::TaskState::kRunning;
  if (forced_stop) coordinator->GuardedTaskStopping(ref);
  if (absl::Status s = runner->Destroy(task_id, force); !s.ok()) {
    if (forced_stop) coordinator->GuardedTaskStopAborted(ref);
    return s;
  }
  {
    carp_exec::MutexLock lock(mu_);
    samplers_.erase(task_id);
  }
  if (guarded) coordinator->GuardedTaskDestroyed(ref);
  return absl::OkStatus();
}

absl::Status Driver::DestroyUnknownTask(const Lease& lease, absl::string_view task_id) {
  // Nomad's restore path force-destroys a task whose RecoverTask failed, then starts a new one
  // (client/allocrunner/taskrunner/task_runner.go, restoreHandle): what is left of the old one
  // in the state directory must not keep running beside it.
  absl::StatusOr<tasks::TaskStatus> found = lease.runner()->DestroyUnknown(task_id);
  if (!found.ok()) return found.status();
  failover::FailoverCoordinator* coordinator = lease.coordinator();
  if (found->guarded && coordinator != nullptr) {
    coordinator->GuardedTaskDestroyed(
        failover::TaskRef{found->task_id, found->alloc_id, found->task_name});
  }
  return absl::OkStatus();
}

absl::StatusOr<tasks::TaskStatus> Driver::InspectTask(absl::string_view task_id) {
  absl::StatusOr<Lease> lease = Acquire();
  if (!lease.ok()) return lease.status();
  return lease->runner()->Inspect(task_id);
}

absl::Status Driver::SignalTask(absl::string_view task_id, absl::string_view signal) {
  absl::StatusOr<Lease> lease = Acquire();
  if (!lease.ok()) return lease.status();
  absl::StatusOr<int> signo = tasks::ParseSignalName(signal);
  if (!signo.ok()) return signo.status();
  return lease->runner()->Signal(task_id, *signo);
}

absl::StatusOr<tasks::TaskStats> Driver::TaskStats(absl::string_view task_id) {
  absl::StatusOr<Lease> lease = Acquire();
  if (!lease.ok()) return lease.status();
  absl::StatusOr<tasks::TaskProcessInfo> process = lease->runner()->ProcessOf(task_id);
  if (!process.ok()) return process.status();
  std::shared_ptr<tasks::TaskStatsSampler> sampler;
  {
    carp_exec::MutexLock lock(mu_);
    std::shared_ptr<tasks::TaskStatsSampler>& slot = samplers_[std::string(task_id)];
    if (slot == nullptr) {
      slot = std::make_shared<tasks::TaskStatsSampler>(
          tasks::TaskProcessGroup{std::string(task_id), process->pgid, process->start_time},
          cpu_compute_);
    }
    sampler = slot;
  }
  absl::StatusOr<std::shared_ptr<const tasks::ProcessSnapshot>> snapshot =
      lease->process_table()->Snapshot();
  if (!snapshot.ok()) return snapshot.status();
  return sampler->Sample(**snapshot);
}

absl::StatusOr<tasks::ExecCommand> Driver::ExecContext(absl::string_view task_id,
                                                       std::vector<std::string> argv) {
  if (argv.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "exec in task ", task_id, ": the command is empty; give a command such as /bin/sh"));
  }
  absl::StatusOr<Lease> lease = Acquire();
  if (!lease.ok()) return lease.status();
  absl::StatusOr<state::LaunchSpec> launch = lease->runner()->ResolvedLaunch(task_id);
  if (!launch.ok()) return launch.status();
  tasks::ExecCommand command;
  command.argv = std::move(argv);
  for (const auto& var : launch->env()) command.env[var.name()] = var.value();
  command.work_dir = launch->work_dir();
  command.netns_path = launch->netns_path();  // exec sessions join the task's network too
  if (launch->has_credentials()) {
    tasks::ExecIdentity id;
    id.uid = launch->credentials().uid();
    id.gid = launch->credentials().gid();
    id.groups.assign(launch->credentials().groups().begin(), launch->credentials().groups().end());
    command.user = std::move(id);
  }
  return command;
}

void Driver::Shutdown() {
  std::unique_ptr<failover::FailoverCoordinator> coordinator;
  std::unique_ptr<tasks::TaskRunner> runner;
  std::unique_ptr<tasks::ProcessTable> process_table;
  {
    carp_exec::MutexLock lock(mu_);
    if (!shut_down_) {
      shut_down_ = true;
      // Recoverable: a StartTask refused now succeeds on the relaunched plugin.
      activation_error_ = tasks::MarkRecoverable(absl::UnavailableError(
          "carp_exec is shutting down; the Nomad client retries on the relaunched plugin"));
    }
    // Calls in progress finish with what they leased; new ones are refused from here on.
    mu_.Await(absl::Condition(
        +[](int* leases) { return *leases == 0; }, &leases_));
    coordinator = std::move(coordinator_);
    runner = std::move(runner_);
    process_table = std::move(process_table_);
  }
  // Destroyed outside the lock: their threads may be calling back into us. The coordinator
  // first: a hand-over it drops still stops its task through the runner.
  coordinator.reset();
  {
    // Stops the coordinator posted (its last ones as it went) still use the runner.
    carp_exec::MutexLock lock(mu_);
    mu_.Await(absl::Condition(
        +[](int* pending) { return *pending == 0; }, &pending_stops_));
  }
  runner.reset();
}

}  // namespace carp_exec
