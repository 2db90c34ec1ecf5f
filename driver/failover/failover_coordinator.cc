#include "driver/failover/failover_coordinator.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "driver/failover/atomic_file.h"
#include "driver/failover/event_text.h"
#include "driver/failover/setup_retry.h"
#include "driver/log/hclog.h"
#include "driver/tasks/boot_token.h"
#include "driver/tasks/state_dir.h"
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

std::string ReadBootId() {
  absl::StatusOr<std::string> token = tasks::CurrentBootToken();
  if (token.ok()) return *token;
  log::Warn(kModule,
            absl::StrCat("cannot identify this boot (", token.status().message(),
                         "); a reboot is then detected only by a demote counter below our share"));
  return "";
}

std::unique_ptr<DemotionBackend> MakeDemotionBackend(const config::FailoverConfig& config,
                                                     fingerprint::CommandRunner* runner) {
  switch (config.backend) {
    case config::FailoverBackend::kOpenBsdCarp:
      return MakeOpenBsdCarpBackend(config.ifconfig_path, config.group, runner, config.interfaces,
                                    config.demote_via == "kernel");
    case config::FailoverBackend::kFreeBsdCarp:
      return MakeFreeBsdCarpBackend(config.sysctl_path, runner, config.ifconfig_path,
                                    config.interfaces, config.demote_via == "kernel");
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
      parts_(std::move(parts)) {
  absl::MutexLock lock(&mu_);
  status_.backend = std::string(config::FailoverBackendName(config_.backend));
  status_.unhealthy = "failover: not started yet";
}

FailoverCoordinator::~FailoverCoordinator() { worker_.reset(); }

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
          ScheduleSetupRetry();
        }
        RefreshStatus();
        done.Notify();
      },
      [&] { done.Notify(); });
  done.WaitForNotification();
  return result;
}

absl::Status FailoverCoordinator::Setup() {
  // First: a guarded task started while setup is failing is still ready-probed.
  if (parts_.prober == nullptr) parts_.prober = std::make_unique<SocketReadyProber>();
  if (parts_.observer == nullptr) {
    absl::StatusOr<std::unique_ptr<fingerprint::NodeObserver>> observer =
        fingerprint::MakeNodeObserver(ObserverOptionsFor(config_), runner_);
    if (!observer.ok()) return observer.status();
    parts_.observer = std::move(*observer);
  }
  if (parts_.backend == nullptr) parts_.backend = MakeDemotionBackend(config_, runner_);
  if (absl::Status s = parts_.backend->CheckUsable(); !s.ok()) return s;

  const std::string dir = absl::StrCat(state_dir_, "/failover");
  if (absl::Status s = MakeDirectories(dir); !s.ok()) return s;
  std::string boot_id = parts_.boot_id.has_value() ? *parts_.boot_id : ReadBootId();
  ledger_ = std::make_unique<DemotionLedger>(absl::StrCat(dir, "/ledger"), parts_.backend.get(),
                                             std::move(boot_id), parts_.ledger_interrupt);
  absl::StatusOr<ReconcileReport> report = ledger_->Reconcile();
  if (!report.ok()) return report.status();
  for (const std::string& note : report->notes) {
    log::Warn(kModule, absl::StrCat("demotion ledger: ", note), {{"path", ledger_->path()}});
  }
  return absl::OkStatus();
}

void FailoverCoordinator::DecideAtStart(const std::vector<tasks::PersistedTask>& tasks) {
  // Tasks whose hand-over had begun when the previous plugin process ended.
  absl::flat_hash_map<std::string, bool> handing_over;
  absl::StatusOr<std::optional<std::string>> text =
      ReadFileIfExists(absl::StrCat(state_dir_, "/failover/handovers"));
  if (text.ok() && text->has_value()) {
    for (absl::string_view id : absl::StrSplit(**text, '\n', absl::SkipEmpty())) {
      handing_over[std::string(id)] = true;
    }
  }
  for (const tasks::PersistedTask& task : tasks) {
    if (!task.guarded || task.liveness != tasks::PersistedTask::Liveness::kRunning) continue;
    // After a late setup (RetrySetup), tasks started or stopped meanwhile keep their life.
    if (guarded_.contains(task.task_id)) continue;
    Guarded& guarded = guarded_[task.task_id];
    guarded.ref.task_id = task.task_id;
    absl::StatusOr<std::optional<config::ReadyCheck>> ready = DecodeReadyCheck(task.ready);
    if (!ready.ok()) {
      log::Warn(kModule,
                absl::StrCat("ignoring the stored ready check: ", ready.status().message()),
                {{"task_id", task.task_id}});
    } else {
      guarded.ready = *ready;
    }
    guarded.life = handing_over.contains(task.task_id) ? Life::kStopping : Life::kRecovered;
  }
  SaveHandovers();
  // A live task found demoted (its replacement was probing, or restore never happened) gets
  // its ready check again, so the node does not stay demoted under a serving task.
  if (ledger_->share() > 0) {
    for (auto& [id, guarded] : guarded_) {
      if (guarded.life != Life::kRecovered) continue;
      if (guarded.ready.has_value()) {
        StartProbing(&guarded);
      } else {
        guarded.life = Life::kReady;
        guarded.ready_detail = "task running (no ready block)";
      }
    }
  }
  bool any_alive = !guarded_.empty();
  Evaluate(TaskRef{}, any_alive ? "plugin start: a hand-over was in progress when the plugin "
                                  "stopped"
                                : "plugin start: no guarded task is running on this node");
}

void FailoverCoordinator::ScheduleSetupRetry() {
  worker_->PostAt(clock_->Now() + SetupRetryDelay(setup_retries_), [this] { RetrySetup(); });
}

void FailoverCoordinator::RetrySetup() {
  if (setup_error_.ok()) return;
  absl::Status result = Setup();
  if (!result.ok()) {
    setup_error_ = result;
    ++setup_retries_;
    log::Warn(kModule, "failover setup failed again; retrying",
              {{"error", result.message()},
               {"retry_in", absl::FormatDuration(SetupRetryDelay(setup_retries_))}});
    RefreshStatus();
    ScheduleSetupRetry();
    return;
  }
  setup_error_ = absl::OkStatus();
  log::Info(kModule, "failover setup succeeded; failover is usable again",
            {{"retries", absl::StrCat(setup_retries_ + 1)}});
  setup_retries_ = 0;
  live_check_failures_ = 0;
  FailoverHandshake::EmitEvent(sink_, TaskRef{}, "node",
                               "failover is usable again: guarded tasks are handed over before "
                               "they stop",
                               {});
  // The tasks alive now, not those of the plugin start: some may have ended meanwhile.
  DecideAtStart(tasks::ScanStateDir(state_dir_));
  RefreshStatus();
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
  // RecoverTask knows more than the state dir did (alloc id, task name): keep the richer ref.
  if (!task.alloc_id.empty() || guarded.ref.task_id.empty()) guarded.ref = task;
  return &guarded;
}

void FailoverCoordinator::HandOver(TaskRef task, std::function<void(HandoverReport)> done) {
  if (worker_ == nullptr) {
    done(ErrorReport(absl::FailedPreconditionError("failover: coordinator not started"),
                     "failover not started; stopping the task without a hand-over"));
    return;
  }
  // Only one of the two jobs runs; `job` copies `done` before the drop path takes it.
  auto job = [this, task = std::move(task), done] { DoHandOver(task, done); };
  worker_->Post(std::move(job), [done = std::move(done)] {
    done(ErrorReport(absl::CancelledError("failover: plugin shutting down"),
                     "plugin shutting down; stopping the task without a hand-over"));
  });
}

void FailoverCoordinator::DoHandOver(const TaskRef& task,
                                     const std::function<void(HandoverReport)>& done) {
  Guarded* guarded = FindOrAdd(task);
  guarded->life = Life::kStopping;
  ++guarded->probe_generation;  // a pending ready check of this task no longer matters
  SaveHandovers();
  if (!setup_error_.ok()) {
    std::string summary = absl::StrCat("failover is not usable (", setup_error_.message(),
                                       "); stopping the task without a hand-over");
    FailoverHandshake::EmitEvent(sink_, task, "signalled", summary, {{"error", "setup"}});
    done(ErrorReport(setup_error_, summary));
    return;
  }
  guarded->handshake = std::make_unique<FailoverHandshake>(task, HandshakeParts());
  // Event-driven confirmation (fingerprint/change_events.h) waits in real time, so only with a
  // real clock (tests run on FakeClock); a source that cannot open leaves the hand-over polling.
  if (dynamic_cast<RealClock*>(clock_) != nullptr) {
    guarded->handshake->set_open_events(
        [options =
             ObserverOptionsFor(config_)]() -> std::unique_ptr<fingerprint::ChangeEventSource> {
          absl::StatusOr<std::unique_ptr<fingerprint::ChangeEventSource>> opened =
              fingerprint::OpenChangeEventSource(options);
          if (opened.ok()) return *std::move(opened);
          log::Debug(kModule, "confirmation polls only: no change events",
                     {{"reason", opened.status().message()}});
          return nullptr;
        });
  }
  HandoverReport report = guarded->handshake->Run([this] { return EnsureDemoted(); });
  UpdateShare();
  done(std::move(report));
}

void FailoverCoordinator::GuardedTaskStarted(TaskRef task,
                                             std::optional<config::ReadyCheck> ready) {
  if (worker_ == nullptr) return;
  worker_->Post(
      [this, task = std::move(task), ready = std::move(ready)] { DoStarted(task, ready); });
}

void FailoverCoordinator::DoStarted(const TaskRef& task, std::optional<config::ReadyCheck> ready) {
  Guarded* guarded = FindOrAdd(task);
  const bool probing =
      guarded->probing && (guarded->life == Life::kStarting || guarded->life == Life::kRecovered);
  if (guarded->life == Life::kReady || probing) return;  // already known: a repeated call
  if (guarded->life != Life::kRecovered) guarded->life = Life::kStarting;
  guarded->ready = std::move(ready);
  if (!guarded->ready.has_value()) {
    guarded->life = Life::kReady;
    guarded->ready_detail = "task running (no ready block)";
    Evaluate(guarded->ref, "");
    return;
  }
  StartProbing(guarded);
}

void FailoverCoordinator::StartProbing(Guarded* guarded) {
  guarded->probe_started = clock_->Now();
  guarded->probing = true;
  const uint64_t generation = ++guarded->probe_generation;
  const std::string id = guarded->ref.task_id;
  worker_->Post([this, id, generation] { ProbeAttempt(id, generation); });
}

void FailoverCoordinator::ProbeAttempt(const std::string& task_id, uint64_t generation) {
  Guarded* guarded = Find(task_id);
  if (guarded == nullptr || guarded->probe_generation != generation ||
      (guarded->life != Life::kStarting && guarded->life != Life::kRecovered)) {
    return;
  }
  const config::ReadyCheck& check = *guarded->ready;
  ProbeResult result = parts_.prober->Probe(check, AttemptTimeout(check));
  const absl::Duration elapsed = clock_->Now() - guarded->probe_started;
  if (result.ready) {
    guarded->life = Life::kReady;
    guarded->probing = false;
    guarded->ready_detail =
        absl::StrCat("task ready (", result.detail, " after ", FormatElapsed(elapsed), ")");
    Evaluate(guarded->ref, "");
    return;
  }
  if (elapsed >= check.timeout) {
    guarded->life = Life::kNotReady;
    guarded->probing = false;
    std::string message = absl::StrCat("not ready within ", absl::FormatDuration(check.timeout),
                                       " (last: ", result.detail, ")");
    absl::StrAppend(&message, ledger_ != nullptr && ledger_->share() > 0
                                  ? "; this node stays demoted until a guarded task here is ready"
                                  : "; this node will be demoted so the peer serves the VIP");
    FailoverHandshake::EmitEvent(sink_, guarded->ref, "held", message, {{"ready", "false"}});
    Evaluate(guarded->ref, "the guarded task did not become ready");
    return;
  }
  worker_->PostAt(clock_->Now() + check.interval,
                  [this, task_id, generation] { ProbeAttempt(task_id, generation); });
}

void FailoverCoordinator::GuardedTaskExited(TaskRef task, bool during_stop) {
  if (worker_ == nullptr) return;
  worker_->Post([this, task = std::move(task), during_stop] { DoExited(task, during_stop); });
}

void FailoverCoordinator::DoExited(const TaskRef& task, bool during_stop) {
  Guarded* guarded = FindOrAdd(task);
  const bool stopping = during_stop || guarded->life == Life::kStopping;
  guarded->life = Life::kExited;
  guarded->probing = false;
  ++guarded->probe_generation;
  SaveHandovers();
  if (stopping) {
    if (guarded->handshake != nullptr) guarded->handshake->TaskExited("exited");
    Evaluate(guarded->ref, "the guarded task was stopped");
    if (guarded->handshake != nullptr && ledger_ != nullptr && ledger_->share() > 0) {
      guarded->handshake->Held(absl::StrCat("this node stays demoted (our share ", ledger_->share(),
                                            ") until a guarded task here is running and ready"));
    }
    return;
  }
  Evaluate(guarded->ref, "the guarded task exited unexpectedly, so the peer takes the VIP");
}

void FailoverCoordinator::GuardedTaskDestroyed(TaskRef task) {
  if (worker_ == nullptr) return;
  worker_->Post([this, task = std::move(task)] { DoDestroyed(task); });
}

void FailoverCoordinator::DoDestroyed(const TaskRef& task) {
  if (guarded_.erase(task.task_id) == 0) return;
  SaveHandovers();
  Evaluate(task, "no guarded task is running on this node");
}

absl::StatusOr<LedgerChange> FailoverCoordinator::EnsureDemoted() {
  if (!setup_error_.ok()) return setup_error_;
  return ledger_->Demote(config_.demote_by);
}

void FailoverCoordinator::Evaluate(const TaskRef& cause, const std::string& reason) {
  if (!setup_error_.ok() || ledger_ == nullptr) return;
  bool stopping = false, recovered = false;
  Guarded* ready = nullptr;
  for (auto& [id, guarded] : guarded_) {
    stopping |= guarded.life == Life::kStopping;
    recovered |= guarded.life == Life::kRecovered;
    if (guarded.life == Life::kReady && ready == nullptr) ready = &guarded;
  }
  const std::string target = parts_.backend->Target();
  if (stopping || (ready == nullptr && !recovered)) {
    if (ledger_->share() >= config_.demote_by) return;
    absl::StatusOr<LedgerChange> change = EnsureDemoted();
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
    if (change.ok()) {
      for (auto& [id, guarded] : guarded_) {
        if (guarded.handshake == nullptr || &guarded == ready) continue;
        HandoverPhase phase = guarded.handshake->phase();
        if (phase == HandoverPhase::kExited || phase == HandoverPhase::kHeld) {
          guarded.handshake->Restored("restored: a guarded task on this node is ready again");
        }
      }
    }
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
  std::string text = absl::StrJoin(ids, "\n");
  if (!text.empty()) text.push_back('\n');
  const std::string dir = absl::StrCat(state_dir_, "/failover");
  absl::Status s = MakeDirectories(dir);
  if (s.ok()) s = WriteFileAtomically(absl::StrCat(dir, "/handovers"), text, 0600);
  if (!s.ok()) {
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
    absl::Status live = parts_.backend->CheckUsable();
    if (live.ok()) live = parts_.observer->CheckUsable();
    // One failed check (a slow tool) must not flip the node attribute (setup_retry.h).
    if (live.ok()) {
      live_check_failures_ = 0;
    } else if (++live_check_failures_ >= kLiveCheckFailuresToUnusable) {
      usable = live;
    } else {
      log::Warn(
          kModule, "failover live check failed",
          {{"error", live.message()}, {"failures_in_a_row", absl::StrCat(live_check_failures_)}});
    }
  }
  fresh.usable = usable.ok();
  if (!usable.ok()) fresh.unhealthy = std::string(usable.message());
  if (ledger_ != nullptr) {
    fresh.share = ledger_->share();
    fresh.demoted = fresh.share > 0;
  }
  absl::MutexLock lock(&mu_);
  // While it stays unusable the first reason is kept: the fingerprint's health description
  // must not change with each check (client/node_updater.go re-registers the node on a change).
  if (!fresh.usable && !status_.usable && status_.observed_at != absl::InfinitePast()) {
    fresh.unhealthy = status_.unhealthy;
  }
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
