#include "driver/failover/failover_coordinator.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "driver/failover/atomic_file.h"
#include "driver/failover/event_text.h"
#include "driver/failover/failover_files.h"
#include "driver/log/hclog.h"
#include "fingerprint/vrrp_state.h"

namespace carp_exec::failover {
namespace {

constexpr char kModule[] = "failover";

HandoverReport ErrorReport(absl::Status error, std::string summary) {
  HandoverReport report;
  report.error = std::move(error);
  report.summary = std::move(summary);
  return report;
}

}  // namespace

std::string ReadBootId(fingerprint::CommandRunner* runner, const std::string& sysctl_path) {
  absl::StatusOr<std::optional<std::string>> linux_id =
      ReadFileIfExists("/proc/sys/kernel/random/boot_id");
  if (linux_id.ok() && linux_id->has_value()) {
    return std::string(absl::StripAsciiWhitespace(**linux_id));
  }
  absl::StatusOr<fingerprint::CommandResult> result =
      runner->Run({sysctl_path, "-n", "kern.boottime"}, absl::Seconds(2));
  if (result.ok() && result->Succeeded()) {
    return std::string(absl::StripAsciiWhitespace(result->out));
  }
  log::Warn(kModule,
            "cannot identify this boot; a reboot is then detected only by a demote "
            "counter below our share",
            {{"sysctl_path", sysctl_path}});
  return "";
}

std::unique_ptr<DemotionBackend> MakeDemotionBackend(const config::FailoverConfig& config,
                                                     fingerprint::CommandRunner* runner) {
  switch (config.backend) {
    case config::FailoverBackend::kOpenBsdCarp:
      return MakeOpenBsdCarpBackend(config.ifconfig_path, config.group, runner);
    case config::FailoverBackend::kFreeBsdCarp:
      return MakeFreeBsdCarpBackend(config.sysctl_path, runner);
    case config::FailoverBackend::kKeepalived:
      return MakeKeepalivedBackend(config.track_file);
    case config::FailoverBackend::kCommand:
      return MakeCommandBackend(config.demote_command, config.restore_command, runner);
  }
  return nullptr;
}

FailoverCoordinator::FailoverCoordinator(config::FailoverConfig config, std::string state_dir,
                                         fingerprint::CommandRunner* runner, Clock* clock,
                                         EventSink* sink, Parts parts)
    : config_(std::move(config)),
      state_dir_(std::move(state_dir)),
      runner_(runner),
      clock_(clock),
      sink_(sink),
      parts_(std::move(parts)),
      liveness_(std::make_shared<Liveness>()) {
  {
    absl::MutexLock lock(&liveness_->mu);
    liveness_->coordinator = this;
  }
  absl::MutexLock lock(&mu_);
  status_.backend = std::string(config::FailoverBackendName(config_.backend));
  status_.unhealthy = "failover: not started yet";
}

FailoverCoordinator::~FailoverCoordinator() {
  {
    absl::MutexLock lock(&liveness_->mu);
    liveness_->coordinator = nullptr;  // exit watches that fire from now on do nothing
  }
  // Jobs not run are dropped: their on_drop releases the stops they carry. The hand-over in
  // progress (its polls are jobs) releases its waiters here.
  // The worker is stopped before it is destroyed: a job running now may still post to it.
  if (worker_ != nullptr) worker_->Stop();
  worker_.reset();
  for (Waiter& waiter : waiters_) {
    waiter.done(ErrorReport(absl::CancelledError("failover: plugin shutting down"),
                            "plugin shutting down; stopping the task without a hand-over"));
  }
  waiters_.clear();
}

absl::Status FailoverCoordinator::Start(const std::vector<tasks::PersistedTask>& tasks) {
  if (worker_ != nullptr) return absl::FailedPreconditionError("failover: Start called twice");
  worker_ = std::make_unique<SerialWorker>(clock_);
  absl::Status result;
  absl::Notification done;
  worker_->Post(
      [&] {
        result = Setup();
        setup_error_ = result;
        if (result.ok()) {
          DecideAtStart(tasks);
        } else {
          FailoverHandshake::EmitEvent(
              sink_, TaskRef{}, "node",
              absl::StrCat("failover is not usable: ", result.message(),
                           "; guarded tasks will be stopped without a hand-over"),
              {{"error", "setup"}});
        }
        RefreshStatus();
        done.Notify();
      },
      [&] { done.Notify(); });
  done.WaitForNotification();
  return result;
}

absl::Status FailoverCoordinator::Setup() {
  if (parts_.observer == nullptr) {
    absl::StatusOr<std::unique_ptr<fingerprint::NodeObserver>> observer =
        fingerprint::MakeNodeObserver(ObserverOptionsFor(config_), runner_);
    if (!observer.ok()) return observer.status();
    parts_.observer = std::move(*observer);
  }
  if (parts_.backend == nullptr) parts_.backend = MakeDemotionBackend(config_, runner_);
  if (parts_.prober == nullptr) parts_.prober = std::make_unique<SocketReadyProber>();
  if (absl::Status s = parts_.backend->CheckUsable(); !s.ok()) return s;

  // Ours for the plugin's whole life: check --live (or a second plugin) cannot change the
  // demotion under us.
  absl::StatusOr<std::unique_ptr<FailoverLock>> lock =
      FailoverLock::Acquire(state_dir_, "carp_exec plugin");
  if (!lock.ok()) return lock.status();
  lock_ = *std::move(lock);
  std::string boot_id =
      parts_.boot_id.has_value() ? *parts_.boot_id : ReadBootId(runner_, config_.sysctl_path);
  ledger_ = std::make_unique<DemotionLedger>(LedgerPath(state_dir_), parts_.backend.get(),
                                             std::move(boot_id), parts_.ledger_interrupt,
                                             parts_.ledger_disk_full);
  absl::StatusOr<ReconcileReport> report = ledger_->Reconcile();
  if (!report.ok()) return report.status();
  for (const std::string& note : report->notes) {
    log::Warn(kModule, absl::StrCat("demotion ledger: ", note), {{"path", ledger_->path()}});
  }
  return absl::OkStatus();
}

void FailoverCoordinator::DecideAtStart(const std::vector<tasks::PersistedTask>& tasks) {
  // Tasks whose hand-over had begun when the previous plugin process ended. Unreadable: any
  // of them may have been, so all wait for Nomad's StopTask (or the grace) like one.
  absl::flat_hash_set<std::string> handing_over;
  absl::StatusOr<std::vector<std::string>> recorded = ReadHandovers(state_dir_);
  if (recorded.ok()) {
    handing_over.insert(recorded->begin(), recorded->end());
  } else {
    log::Warn(kModule,
              absl::StrCat("cannot read the hand-overs in progress (", recorded.status().message(),
                           "); every live guarded task is treated as being stopped until "
                           "recover_stop_grace passes"));
  }
  for (const tasks::PersistedTask& task : tasks) {
    if (!task.guarded || task.liveness != tasks::PersistedTask::Liveness::kRunning) continue;
    Guarded* guarded = FindOrAdd(TaskRefFromId(task.task_id));
    absl::StatusOr<std::optional<config::ReadyCheck>> ready = DecodeReadyCheck(task.ready);
    if (!ready.ok()) {
      log::Warn(kModule,
                absl::StrCat("ignoring the stored ready check: ", ready.status().message()),
                {{"task_id", task.task_id}});
    } else {
      guarded->ready = *ready;
    }
    if (!recorded.ok() || handing_over.contains(task.task_id)) {
      SetLife(guarded, Life::kStopping, "its hand-over was recorded before the plugin stopped");
      // Nomad re-sends the StopTask after relaunching the plugin; if none comes, it serves.
      const uint64_t generation = ++guarded->grace_generation;
      const std::string id = task.task_id;
      worker_->PostAt(clock_->Now() + config_.recover_stop_grace,
                      [this, id, generation] { GraceExpired(id, generation); });
    } else {
      SetLife(guarded, Life::kRecovered, "found alive at plugin start");
    }
    Watch(guarded);
  }
  SaveHandovers();
  // A live task found demoted (its replacement was probing, or restore never happened) gets
  // its ready check again, so the node does not stay demoted under a serving task.
  if (ledger_->share() > 0) {
    for (auto& [id, guarded] : guarded_) {
      if (guarded.life == Life::kRecovered) StartProbing(&guarded);
    }
  }
  bool any_alive = !guarded_.empty();
  Evaluate(TaskRef{}, any_alive ? "plugin start: a hand-over was in progress when the plugin "
                                  "stopped"
                                : "plugin start: no guarded task is running on this node");
}

FailoverHandshake::Parts FailoverCoordinator::HandshakeParts() {
  return FailoverHandshake::Parts{
      &config_, parts_.backend->Target(), parts_.observer.get(), runner_, clock_, sink_};
}

FailoverCoordinator::Guarded* FailoverCoordinator::Find(const std::string& task_id) {
  auto it = guarded_.find(task_id);
  return it == guarded_.end() ? nullptr : &it->second;
}

FailoverCoordinator::Guarded* FailoverCoordinator::FindOrAdd(const TaskRef& task) {
  Guarded& guarded = guarded_[task.task_id];
  // Nomad routes events by alloc id and task name: never keep a ref without them when the
  // task id (or a richer ref from RecoverTask) gives them.
  TaskRef richer = task.alloc_id.empty() ? TaskRefFromId(task.task_id) : task;
  if (guarded.ref.task_id.empty() || guarded.ref.alloc_id.empty()) guarded.ref = richer;
  return &guarded;
}

bool FailoverCoordinator::SetLife(Guarded* guarded, Life to, absl::string_view cause) {
  const Life from = guarded->life;
  if (from == to) return true;
  if (!LifeTransitionAllowed(from, to)) {
    log::Error(kModule,
               absl::StrCat("bug in carp_exec: failover state change ", LifeName(from), " → ",
                            LifeName(to), " is not in the transition table (", cause,
                            "); ignored, please report it"),
               {{"task_id", guarded->ref.task_id}});
    return false;
  }
  log::Debug(kModule, absl::StrCat("guarded task ", LifeName(from), " → ", LifeName(to)),
             {{"task_id", guarded->ref.task_id}, {"cause", cause}});
  guarded->life = to;
  if (from == Life::kStopping || to == Life::kStopping) SaveHandovers();
  if (to != Life::kStarting && to != Life::kRecovered && to != Life::kNotReady) {
    guarded->probing = false;
    ++guarded->probe_generation;  // a pending ready check of this task no longer matters
  }
  if (from == Life::kStopping) ++guarded->grace_generation;
  return true;
}

void FailoverCoordinator::Watch(Guarded* guarded) {
  if (guarded->watching || !parts_.watch_exit) return;
  std::weak_ptr<Liveness> weak = liveness_;
  const TaskRef ref = guarded->ref;
  guarded->watching = parts_.watch_exit(ref.task_id, [weak, ref](std::string how) {
    std::shared_ptr<Liveness> liveness = weak.lock();
    if (liveness == nullptr) return;
    absl::MutexLock lock(&liveness->mu);
    if (liveness->coordinator != nullptr)
      liveness->coordinator->GuardedTaskExited(ref, std::move(how));
  });
}

void FailoverCoordinator::HandOver(TaskRef task, std::function<void(HandoverReport)> done) {
  if (worker_ == nullptr) {
    done(ErrorReport(absl::FailedPreconditionError("failover: coordinator not started"),
                     "failover not started; stopping the task without a hand-over"));
    return;
  }
  // The job and the drop path share `done`: exactly one of them runs it.
  auto shared = std::make_shared<std::function<void(HandoverReport)>>(std::move(done));
  worker_->Post([this, task = std::move(task), shared] { DoHandOver(task, std::move(*shared)); },
                [shared] {
                  (*shared)(ErrorReport(absl::CancelledError("failover: plugin shutting down"),
                                        "plugin shutting down; stopping the task without a "
                                        "hand-over"));
                });
}

void FailoverCoordinator::DoHandOver(const TaskRef& task,
                                     std::function<void(HandoverReport)> done) {
  Guarded* guarded = FindOrAdd(task);
  SetLife(guarded, Life::kStopping, "StopTask");
  guarded->stop_seen = true;
  Watch(guarded);
  if (!setup_error_.ok()) {
    std::string summary = absl::StrCat("failover is not usable (", setup_error_.message(),
                                       "); stopping the task without a hand-over");
    FailoverHandshake::EmitEvent(sink_, guarded->ref, "signalled", summary, {{"error", "setup"}});
    done(ErrorReport(setup_error_, summary));
    return;
  }
  waiters_.push_back(Waiter{guarded->ref, std::move(done), clock_->Now()});
  if (handover_ != nullptr) {
    // One demotion and one confirmation for every stop that overlaps: this one is released
    // with the hand-over already in progress.
    log::Info(kModule, "joining the hand-over in progress",
              {{"task_id", task.task_id}, {"leader", handover_->task().task_id}});
    return;
  }
  handover_ = std::make_unique<FailoverHandshake>(guarded->ref, HandshakeParts());
  const TaskRef leader = guarded->ref;
  std::optional<HandoverReport> report =
      handover_->Begin([this, &leader] { return EnsureDemoted(leader); });
  UpdateShare();
  if (report.has_value()) return FinishHandOver(*report);
  worker_->PostAt(handover_->next_step_at(), [this] { ContinueHandOver(); });
}

void FailoverCoordinator::ContinueHandOver() {
  if (handover_ == nullptr) return;
  std::optional<HandoverReport> report = handover_->Continue();
  if (report.has_value()) return FinishHandOver(*report);
  worker_->PostAt(handover_->next_step_at(), [this] { ContinueHandOver(); });
}

void FailoverCoordinator::FinishHandOver(const HandoverReport& report) {
  const TaskRef leader = handover_->task();
  std::vector<Waiter> waiters = std::move(waiters_);
  waiters_.clear();
  handover_.reset();
  for (Waiter& waiter : waiters) {
    HandoverReport own = report;
    if (waiter.task.task_id != leader.task_id) {
      // The leader's handshake spoke for its own task; each joined stop gets one event too.
      own.elapsed = clock_->Now() - waiter.joined_at;
      FailoverHandshake::EmitEvent(
          sink_, waiter.task, "signalled",
          absl::StrCat("joined the hand-over in progress (", leader.alloc_id, "/", leader.task_name,
                       "): ", report.summary),
          {{"waited_ms", absl::StrCat(absl::ToInt64Milliseconds(own.elapsed))},
           {"confirmed", report.confirmed ? "true" : "false"}});
    }
    waiter.done(std::move(own));
  }
}

void FailoverCoordinator::GuardedTaskStarted(TaskRef task,
                                             std::optional<config::ReadyCheck> ready) {
  if (worker_ == nullptr) return;
  worker_->Post([this, task = std::move(task), ready = std::move(ready)] {
    DoStarted(task, ready, Life::kStarting);
  });
}

void FailoverCoordinator::GuardedTaskRecovered(TaskRef task,
                                               std::optional<config::ReadyCheck> ready) {
  if (worker_ == nullptr) return;
  worker_->Post([this, task = std::move(task), ready = std::move(ready)] {
    DoStarted(task, ready, Life::kRecovered);
  });
}

void FailoverCoordinator::DoStarted(const TaskRef& task, std::optional<config::ReadyCheck> ready,
                                    Life entry) {
  Guarded* guarded = FindOrAdd(task);
  Watch(guarded);
  // Known already (a repeated call, RecoverTask after the state-dir scan, or a task whose
  // hand-over had begun): its state stands.
  if (guarded->life != Life::kNone) return;
  if (!SetLife(guarded, entry, entry == Life::kStarting ? "StartTask" : "RecoverTask")) return;
  guarded->ready = std::move(ready);
  StartProbing(guarded);
}

void FailoverCoordinator::StartProbing(Guarded* guarded) {
  if (!guarded->ready.has_value()) {
    guarded->ready_detail = "task running (no ready block)";
    if (SetLife(guarded, Life::kReady, "no ready block")) Evaluate(guarded->ref, "");
    return;
  }
  guarded->probe_started = clock_->Now();
  guarded->probing = true;
  const uint64_t generation = ++guarded->probe_generation;
  const std::string id = guarded->ref.task_id;
  worker_->Post([this, id, generation] { ProbeAttempt(id, generation); });
}

void FailoverCoordinator::ProbeAttempt(const std::string& task_id, uint64_t generation) {
  Guarded* guarded = Find(task_id);
  if (guarded == nullptr || guarded->probe_generation != generation ||
      (guarded->life != Life::kStarting && guarded->life != Life::kRecovered &&
       guarded->life != Life::kNotReady)) {
    return;
  }
  const config::ReadyCheck& check = *guarded->ready;
  ProbeResult result = parts_.prober->Probe(check, AttemptTimeout(check));
  const absl::Duration elapsed = clock_->Now() - guarded->probe_started;
  if (result.ready) {
    const bool late = guarded->life == Life::kNotReady;
    guarded->ready_detail = absl::StrCat(late ? "task ready late (" : "task ready (", result.detail,
                                         " after ", FormatElapsed(elapsed), ")");
    if (SetLife(guarded, Life::kReady, late ? "late ready" : "ready check passed")) {
      Evaluate(guarded->ref, "");
    }
    return;
  }
  if (guarded->life != Life::kNotReady && elapsed >= check.timeout) {
    if (!SetLife(guarded, Life::kNotReady, "ready.timeout passed")) return;
    std::string message = absl::StrCat("not ready within ", absl::FormatDuration(check.timeout),
                                       " (last: ", result.detail, ")");
    absl::StrAppend(&message,
                    ledger_ != nullptr && ledger_->share() > 0
                        ? "; this node stays demoted until a guarded task here is ready"
                        : "; this node will be demoted so the peer serves the VIP",
                    "; still checking every ", absl::FormatDuration(kLateReadyInterval),
                    " and restoring as soon as it passes");
    FailoverHandshake::EmitEvent(sink_, guarded->ref, "held", message, {{"ready", "false"}});
    Evaluate(guarded->ref, "the guarded task did not become ready");
  }
  const absl::Duration next =
      guarded->life == Life::kNotReady ? kLateReadyInterval : check.interval;
  worker_->PostAt(clock_->Now() + next,
                  [this, task_id, generation] { ProbeAttempt(task_id, generation); });
}

void FailoverCoordinator::GraceExpired(const std::string& task_id, uint64_t generation) {
  Guarded* guarded = Find(task_id);
  if (guarded == nullptr || guarded->grace_generation != generation ||
      guarded->life != Life::kStopping || guarded->stop_seen) {
    return;
  }
  if (!SetLife(guarded, Life::kRecovered, "no StopTask within recover_stop_grace")) return;
  FailoverHandshake::EmitEvent(
      sink_, guarded->ref, "held",
      absl::StrCat("no StopTask within recover_stop_grace (",
                   absl::FormatDuration(config_.recover_stop_grace),
                   ") after the plugin restarted mid-hand-over: the task serves on; checking it "
                   "is ready before this node takes the VIP back"),
      {});
  StartProbing(guarded);
  Evaluate(guarded->ref, "");
}

void FailoverCoordinator::GuardedTaskExited(TaskRef task, std::string how) {
  if (worker_ == nullptr) return;
  worker_->Post([this, task = std::move(task), how = std::move(how)] { DoExited(task, how); });
}

void FailoverCoordinator::DoExited(const TaskRef& task, const std::string& how) {
  Guarded* guarded = Find(task.task_id);
  if (guarded == nullptr || guarded->life == Life::kExited) return;  // destroyed, or told twice
  const bool stopping = guarded->life == Life::kStopping;
  if (!SetLife(guarded, Life::kExited, stopping ? "the stop" : "a crash")) return;
  if (!stopping) {
    Evaluate(guarded->ref, "the guarded task exited unexpectedly, so the peer takes the VIP");
    return;
  }
  Evaluate(guarded->ref, "the guarded task was stopped");
  // One event for the end of the stop: how it ended, and what the node does now.
  std::string message = absl::StrCat("task ", how);
  if (ledger_ != nullptr && ledger_->share() > 0) {
    absl::StrAppend(&message, "; this node stays demoted (our share ", ledger_->share(),
                    ") until a guarded task here is running and ready");
  }
  FailoverHandshake::EmitEvent(sink_, guarded->ref, "exited", std::move(message),
                               {{"share", absl::StrCat(ledger_ ? ledger_->share() : 0)}});
}

void FailoverCoordinator::GuardedTaskStopping(TaskRef task) {
  if (worker_ == nullptr) return;
  worker_->Post([this, task = std::move(task)] { DoStopping(task, /*aborted=*/false); });
}

void FailoverCoordinator::GuardedTaskStopAborted(TaskRef task) {
  if (worker_ == nullptr) return;
  worker_->Post([this, task = std::move(task)] { DoStopping(task, /*aborted=*/true); });
}

void FailoverCoordinator::DoStopping(const TaskRef& task, bool aborted) {
  Guarded* guarded = FindOrAdd(task);
  if (!aborted) {
    if (SetLife(guarded, Life::kStopping, "forced DestroyTask")) guarded->stop_seen = true;
    Watch(guarded);
    Evaluate(guarded->ref, "a guarded task is being destroyed");
    return;
  }
  if (guarded->life != Life::kStopping) return;
  if (SetLife(guarded, Life::kRecovered, "the forced DestroyTask failed")) StartProbing(guarded);
}

void FailoverCoordinator::GuardedTaskDestroyed(TaskRef task) {
  if (worker_ == nullptr) return;
  worker_->Post([this, task = std::move(task)] { DoDestroyed(task); });
}

void FailoverCoordinator::DoDestroyed(const TaskRef& task) {
  auto it = guarded_.find(task.task_id);
  if (it == guarded_.end()) return;
  const TaskRef ref = it->second.ref;
  const bool was_stopping = it->second.life == Life::kStopping;
  guarded_.erase(it);
  if (was_stopping) SaveHandovers();
  Evaluate(ref, "no guarded task is running on this node");
}

absl::StatusOr<LedgerChange> FailoverCoordinator::EnsureDemoted(const TaskRef& cause) {
  if (!setup_error_.ok()) return setup_error_;
  absl::StatusOr<LedgerChange> change = ledger_->Demote(config_.demote_by);
  if (change.ok() && !change->unrecorded.empty()) {
    // Demoted all the same (the node must not serve under a stopping task); say loudly what a
    // crash before the disk has room again would leave behind, and how to undo it.
    std::string message = absl::StrCat(
        "DISK FULL: demoted ", parts_.backend->Target(), " by ",
        change->share_after - change->share_before, " but could not record it in ", ledger_->path(),
        " (", change->unrecorded, "). Free space under ", state_dir_,
        " now: if the plugin stops "
        "before its next write succeeds, it will not know this share is its own, and the node "
        "stays demoted until it is taken back by hand");
    log::Error(kModule, message, {{"task_id", cause.task_id}});
    FailoverHandshake::EmitEvent(sink_, cause, "demoting", std::move(message),
                                 {{"error", "disk_full"}});
  }
  return change;
}

void FailoverCoordinator::Evaluate(const TaskRef& cause, const std::string& reason) {
  if (!setup_error_.ok() || ledger_ == nullptr) return;
  bool stopping = handover_ != nullptr, recovered = false;
  Guarded* ready = nullptr;
  for (auto& [id, guarded] : guarded_) {
    stopping |= guarded.life == Life::kStopping;
    recovered |= guarded.life == Life::kRecovered;
    if (guarded.life == Life::kReady && ready == nullptr) ready = &guarded;
  }
  const std::string target = parts_.backend->Target();
  if (stopping || (ready == nullptr && !recovered)) {
    if (ledger_->share() >= config_.demote_by) return;
    absl::StatusOr<LedgerChange> change = EnsureDemoted(cause);
    std::string message = change.ok()
                              ? absl::StrCat(DemotedText(target, *change), ": ", reason)
                              : absl::StrCat("cannot demote ", target, " (",
                                             change.status().message(), ") although ", reason);
    FailoverHandshake::EmitEvent(sink_, cause, "held", std::move(message),
                                 {{"share", absl::StrCat(ledger_->share())}});
  } else if (ready != nullptr) {
    if (ledger_->share() == 0) return;
    absl::StatusOr<LedgerChange> change = ledger_->Restore();
    std::string message =
        change.ok() ? absl::StrCat(RestoredText(target, *change), ": ", ready->ready_detail)
                    : absl::StrCat("cannot restore ", target, " (", change.status().message(),
                                   "); this node stays demoted");
    FailoverHandshake::EmitEvent(sink_, ready->ref, "restored", std::move(message),
                                 {{"share", absl::StrCat(ledger_->share())}});
  }
  UpdateShare();
}

void FailoverCoordinator::UpdateShare() {
  if (ledger_ == nullptr) return;
  const int share = ledger_->share();
  absl::MutexLock lock(&mu_);
  status_.share = share;
  status_.demoted = share > 0;
}

void FailoverCoordinator::SaveHandovers() {
  std::vector<std::string> ids;
  for (const auto& [id, guarded] : guarded_) {
    if (guarded.life == Life::kStopping) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  if (absl::Status s = WriteHandovers(state_dir_, ids); !s.ok()) {
    log::Warn(kModule,
              absl::StrCat("cannot record the hand-overs in progress: ", s.message(),
                           "; after a plugin restart a half-stopped task may not keep the node "
                           "demoted"));
  }
}

void FailoverCoordinator::RefreshStatus() {
  FailoverStatus fresh;
  fresh.backend = std::string(config::FailoverBackendName(config_.backend));
  fresh.observed_at = clock_->Now();
  absl::Status usable = setup_error_;
  if (usable.ok() && parts_.observer != nullptr) {
    absl::StatusOr<fingerprint::Observation> seen = parts_.observer->Observe();
    if (seen.ok()) {
      fresh.state = std::string(fingerprint::VrrpStateName(seen->state));
      fresh.demote_count = seen->demote_count;
    }
    usable = parts_.backend->CheckUsable();
    if (usable.ok()) usable = parts_.observer->CheckUsable();
  }
  fresh.usable = usable.ok();
  if (!usable.ok()) fresh.unhealthy = std::string(usable.message());
  if (ledger_ != nullptr) {
    fresh.share = ledger_->share();
    fresh.demoted = fresh.share > 0;
  }
  absl::MutexLock lock(&mu_);
  status_ = std::move(fresh);
  refresh_pending_ = false;
}

FailoverStatus FailoverCoordinator::Status() {
  bool refresh = false;
  FailoverStatus copy;
  {
    absl::MutexLock lock(&mu_);
    copy = status_;
    if (worker_ != nullptr && !refresh_pending_ &&
        clock_->Now() - status_.observed_at >= kStatusRefresh) {
      refresh_pending_ = true;
      refresh = true;
    }
  }
  if (refresh) worker_->Post([this] { RefreshStatus(); });
  return copy;
}

void FailoverCoordinator::Flush() {
  if (worker_ == nullptr) return;
  absl::Notification done;
  worker_->Post([&done] { done.Notify(); }, [&done] { done.Notify(); });
  done.WaitForNotification();
}

}  // namespace carp_exec::failover
