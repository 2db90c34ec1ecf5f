#include "driver/failover/failover_coordinator.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "driver/failover/atomic_file.h"
#include "driver/failover/event_text.h"
#include "driver/failover/failover_files.h"
#include "driver/failover/setup_retry.h"
#include "driver/log/hclog.h"
#include "driver/mutex_lock.h"
#include "driver/tasks/boot_token.h"
#include "driver/tasks/state_dir.h"
#include "fingerprint/vrrp_state.h"

namespace carp_exec::failover {
namespace {

constexpr char kModule[] = "failover";

}  // namespace

std::string ReadBootId() {
  absl::StatusOr<std::string> token = tasks::CurrentBootToken();
  if (token.ok()) return *token;
  log::Warn(kModule,
            absl::StrCat("cannot identify this boot (", token.status().message(),
                         "); a reboot is then detected only by a demote counter below our share"));
  return "";
}

std::vector<uint32_t> Ipv4Vips(const config::FailoverConfig& config) {
  std::vector<uint32_t> vips;
  for (const config::IpAddress& vip : config.vip) {
    if (vip.is_v6) continue;
    vips.push_back((uint32_t{vip.bytes[0]} << 24) | (uint32_t{vip.bytes[1]} << 16) |
                   (uint32_t{vip.bytes[2]} << 8) | vip.bytes[3]);
  }
  return vips;
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
      parts_(std::move(parts)),
      liveness_(std::make_shared<Liveness>()) {
  {
    carp_exec::MutexLock lock(liveness_->mu);
    liveness_->coordinator = this;
  }
  carp_exec::MutexLock lock(mu_);
  status_.backend = std::string(config::FailoverBackendName(config_.backend));
  status_.unhealthy = "failover: not started yet";
}

FailoverCoordinator::~FailoverCoordinator() {
  {
    carp_exec::MutexLock lock(liveness_->mu);
    liveness_->coordinator = nullptr;  // exit watches that fire from now on do nothing
  }
  // Jobs not run are dropped: their on_drop releases the stops they carry. The hand-over in
  // progress (its polls are jobs) releases its waiters here.
  // The worker is stopped before it is destroyed: a job running now may still post to it.
  if (worker_ != nullptr) worker_->Stop();
  waker_.reset();  // its thread posts to the worker: joined before the worker goes
  worker_.reset();
  for (Waiter& waiter : waiters_) {
    waiter.done(HandoverError(absl::CancelledError("failover: plugin shutting down"),
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
        // Before the setup: a task recovered while the setup fails must still keep the hand-over
        // the previous plugin process recorded (issue 10 item 3).
        ReadRecordedHandovers();
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
  OpenResigner();

  // Ours for the plugin's whole life: check --live (or a second plugin) cannot change the
  // demotion under us. Taken once: a second flock from this process on another descriptor
  // would conflict with our own (a setup retried after a later step failed keeps it).
  if (lock_ == nullptr) {
    absl::StatusOr<std::unique_ptr<FailoverLock>> lock =
        FailoverLock::Acquire(state_dir_, "carp_exec plugin");
    if (!lock.ok()) return lock.status();
    lock_ = *std::move(lock);
  }
  std::string boot_id = parts_.boot_id.has_value() ? *parts_.boot_id : ReadBootId();
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

void FailoverCoordinator::OpenResigner() {
  if (config_.backend != config::FailoverBackend::kKeepalived || config_.handover != "resign" ||
      parts_.resigner != nullptr || resign_open_failed_) {
    return;
  }
  // Real sockets only with the real clock: unit tests (FakeClock) inject a resigner or none.
  if (dynamic_cast<RealClock*>(clock_) == nullptr) return;
  absl::StatusOr<std::unique_ptr<VrrpResigner>> opened =
      OpenVrrpResigner(config_.vrid, Ipv4Vips(config_), config_.interfaces);
  if (opened.ok()) {
    parts_.resigner = *std::move(opened);
    return;
  }
  // Resign only speeds the hand-over up; the weighted demotion alone is still hitless.
  resign_open_failed_ = true;
  log::Warn(kModule, absl::StrCat("handover = \"resign\" is off, hand-overs wait for the peer's "
                                  "Master_Down timer: ",
                                  opened.status().message(),
                                  " (`carp_exec check` shows what a stop would send; set "
                                  "handover = \"weighted\" to make this the configured way)"));
}

void FailoverCoordinator::ReadRecordedHandovers() {
  absl::StatusOr<std::vector<std::string>> recorded = ReadHandovers(state_dir_);
  if (recorded.ok()) {
    recorded_handovers_.insert(recorded->begin(), recorded->end());
    return;
  }
  // Unreadable: any live task may have been handed over, so each waits for Nomad's StopTask
  // (or the grace) like one.
  handovers_unreadable_ = true;
  log::Warn(kModule,
            absl::StrCat("cannot read the hand-overs in progress (", recorded.status().message(),
                         "); every live guarded task is treated as being stopped until "
                         "recover_stop_grace passes"));
}

bool FailoverCoordinator::TakeRecordedHandover(const std::string& task_id) {
  return recorded_handovers_.erase(task_id) > 0 || handovers_unreadable_;
}

void FailoverCoordinator::EnterRecordedStop(Guarded* guarded) {
  if (!SetLife(guarded, Life::kStopping, "its hand-over was recorded before the plugin stopped")) {
    return;
  }
  // Nomad re-sends the StopTask after relaunching the plugin; if none comes, it serves.
  const uint64_t generation = ++guarded->grace_generation;
  const std::string id = guarded->ref.task_id;
  worker_->PostAt(clock_->Now() + config_.recover_stop_grace,
                  [this, id, generation] { GraceExpired(id, generation); });
}

void FailoverCoordinator::DecideAtStart(const std::vector<tasks::PersistedTask>& tasks) {
  for (const tasks::PersistedTask& task : tasks) {
    if (!task.guarded || task.liveness != tasks::PersistedTask::Liveness::kRunning) continue;
    // After a late setup (RetrySetup), tasks started, recovered or stopped meanwhile keep their
    // life.
    if (guarded_.contains(task.task_id)) continue;
    const bool recorded = TakeRecordedHandover(task.task_id);
    Guarded* guarded = FindOrAdd(TaskRefFromId(task.task_id));
    absl::StatusOr<std::optional<config::ReadyCheck>> ready = DecodeReadyCheck(task.ready);
    if (!ready.ok()) {
      log::Warn(kModule,
                absl::StrCat("ignoring the stored ready check: ", ready.status().message()),
                {{"task_id", task.task_id}});
    } else {
      guarded->ready = *ready;
    }
    if (recorded) {
      EnterRecordedStop(guarded);
    } else {
      SetLife(guarded, Life::kRecovered, "found alive at plugin start");
    }
    Watch(guarded);
  }
  // Recorded tasks the scan did not find running are gone; the others are tracked now.
  recorded_handovers_.clear();
  handovers_unreadable_ = false;
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
  carp_exec::MutexLock lock(mu_);
  status_.share = share;
  status_.demoted = share > 0;
}

void FailoverCoordinator::SaveHandovers() {
  // Recorded hand-overs of tasks not met yet stay recorded (a failed setup must not drop them).
  std::vector<std::string> ids;
  for (const std::string& id : recorded_handovers_) {
    if (!guarded_.contains(id)) ids.push_back(id);
  }
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
  carp_exec::MutexLock lock(mu_);
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
    carp_exec::MutexLock lock(mu_);
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
