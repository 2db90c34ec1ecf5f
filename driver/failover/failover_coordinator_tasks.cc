// The guarded tasks' lives, for FailoverCoordinator (failover_coordinator.h): the checked
// transitions, exit watches, ready probes (late ones too), the recover_stop_grace, and the
// shared hand-over. Everything here runs on the coordinator's worker thread.

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "driver/failover/event_text.h"
#include "driver/failover/failover_coordinator.h"
#include "driver/log/hclog.h"
#include "driver/mutex_lock.h"

namespace carp_exec::failover {
namespace {

constexpr char kModule[] = "failover";

}  // namespace

FailoverHandshake::Parts FailoverCoordinator::HandshakeParts() {
  return FailoverHandshake::Parts{
      &config_, parts_.backend->Target(), parts_.observer.get(), runner_, clock_,
      sink_,    parts_.resigner.get()};
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

bool FailoverCoordinator::Watch(Guarded* guarded) {
  if (guarded->watching || !parts_.watch_exit) return false;
  std::weak_ptr<Liveness> weak = liveness_;
  const TaskRef ref = guarded->ref;
  auto ended = std::make_shared<std::atomic<bool>>(false);
  guarded->watching = parts_.watch_exit(ref.task_id, [weak, ref, ended](std::string how) {
    ended->store(true);
    std::shared_ptr<Liveness> liveness = weak.lock();
    if (liveness == nullptr) return;
    carp_exec::MutexLock lock(liveness->mu);
    if (liveness->coordinator != nullptr)
      liveness->coordinator->GuardedTaskExited(ref, std::move(how));
  });
  return ended->load();
}

void FailoverCoordinator::HandOver(TaskRef task, std::function<void(HandoverReport)> done) {
  if (worker_ == nullptr) {
    done(HandoverError(absl::FailedPreconditionError("failover: coordinator not started"),
                       "failover not started; stopping the task without a hand-over"));
    return;
  }
  // The job and the drop path share `done`: exactly one of them runs it.
  auto shared = std::make_shared<std::function<void(HandoverReport)>>(std::move(done));
  worker_->Post([this, task = std::move(task), shared] { DoHandOver(task, std::move(*shared)); },
                [shared] {
                  (*shared)(HandoverError(absl::CancelledError("failover: plugin shutting down"),
                                          "plugin shutting down; stopping the task without a "
                                          "hand-over"));
                });
}

void FailoverCoordinator::DoHandOver(const TaskRef& task,
                                     std::function<void(HandoverReport)> done) {
  Guarded* guarded = FindOrAdd(task);
  // A BACKUP node has nothing to hand over: one in-process observation, then the signal, and
  // only then the bookkeeping (handovers file, ledger: disk writes) and the demotion that a
  // stopping task still requires. Everything runs on this worker, so the task's exit is seen
  // after it is stopping. Only with in-process observation: where observing forks (tools,
  // state_command), a MASTER would pay that look twice. The demotion thus follows the signal
  // by the length of this job (milliseconds): in a group of three or more nodes, a master that
  // fails inside that window could still elect this node (driver/failover/README.md).
  if (handover_ == nullptr && setup_error_.ok() && config_.observe_via == "kernel" &&
      config_.backend != config::FailoverBackend::kCommand) {
    FailoverHandshake quick(guarded->ref, HandshakeParts());
    if (std::optional<HandoverReport> report = quick.NothingToHandOver()) {
      done(*std::move(report));
      SetLife(guarded, Life::kStopping, "StopTask");
      guarded->stop_seen = true;
      Watch(guarded);
      Evaluate(guarded->ref,
               "a guarded task is stopping (signalled at once: this node is not "
               "MASTER and holds no vip)");
      return;
    }
  }
  SetLife(guarded, Life::kStopping, "StopTask");
  guarded->stop_seen = true;
  Watch(guarded);
  if (!setup_error_.ok()) {
    std::string summary = absl::StrCat("failover is not usable (", setup_error_.message(),
                                       "); stopping the task without a hand-over");
    FailoverHandshake::EmitEvent(sink_, guarded->ref, "signalled", summary, {{"error", "setup"}});
    done(HandoverError(setup_error_, summary));
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
  // Event-driven confirmation (fingerprint/change_events.h) waits in real time, so only with a
  // real clock (tests run on FakeClock, and may give a source of their own: Parts::open_events);
  // a source that cannot open leaves the hand-over polling. Opened per hand-over by Begin,
  // before its demotion; joined stops share it.
  if (parts_.open_events) {
    handover_->set_open_events(parts_.open_events);
  } else if (dynamic_cast<RealClock*>(clock_) != nullptr) {
    handover_->set_open_events([options = ObserverOptionsFor(
                                    config_)]() -> std::unique_ptr<fingerprint::ChangeEventSource> {
      absl::StatusOr<std::unique_ptr<fingerprint::ChangeEventSource>> opened =
          fingerprint::OpenChangeEventSource(options);
      if (opened.ok()) return *std::move(opened);
      log::Debug(kModule, "confirmation polls only: no change events",
                 {{"reason", opened.status().message()}});
      return nullptr;
    });
  }
  const TaskRef leader = guarded->ref;
  std::optional<HandoverReport> report =
      handover_->Begin([this, &leader] { return EnsureDemoted(leader); });
  UpdateShare();
  if (report.has_value()) return FinishHandOver(*report);
  if (std::unique_ptr<fingerprint::ChangeEventSource> events = handover_->TakeEvents()) {
    // Runs on the waker's thread; the waker is joined before the worker goes (FinishHandOver,
    // ~FailoverCoordinator). The early poll it posts belongs to this hand-over: one that runs
    // after it ended (posted before the join) must not poll, or mark as consumed, the next.
    const uint64_t id = ++handover_id_;
    waker_ = std::make_unique<ChangeWaker>(std::move(events), [this, id] {
      worker_->Post([this, id] {
        if (id != handover_id_ || waker_ == nullptr || handover_ == nullptr) return;
        waker_->Consumed();
        ContinueHandOver(handover_step_);
      });
    });
  }
  ScheduleHandOverStep();
}

void FailoverCoordinator::ScheduleHandOverStep() {
  const uint64_t step = ++handover_step_;
  worker_->PostAt(handover_->next_step_at(), [this, step] { ContinueHandOver(step); });
}

void FailoverCoordinator::ContinueHandOver(uint64_t step) {
  // Stale: an early poll (a change event) ran since this one was scheduled.
  if (handover_ == nullptr || step != handover_step_) return;
  std::optional<HandoverReport> report = handover_->Continue();
  if (report.has_value()) return FinishHandOver(*report);
  ScheduleHandOverStep();
}

void FailoverCoordinator::FinishHandOver(const HandoverReport& report) {
  const TaskRef leader = handover_->task();
  std::vector<Waiter> waiters = std::move(waiters_);
  waiters_.clear();
  // The waker is joined after the stops are released: nothing may stand between the
  // confirmation and the signal (issue 12). An early poll it posted before the join is stale
  // (handover_id_) and does nothing, even once a later hand-over has begun.
  std::unique_ptr<ChangeWaker> waker = std::move(waker_);
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
  waker.reset();  // wakes its thread and joins it (change_waker.h)
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
  const bool known = guarded_.contains(task.task_id);
  // RecoverTask before a successful setup's state-dir scan: the handovers file read at Start
  // says whether its hand-over had begun.
  const bool recorded = !known && entry == Life::kRecovered && TakeRecordedHandover(task.task_id);
  Guarded* guarded = FindOrAdd(task);
  // An exit watch on a task that already ended reports at once: its DoExited is queued, and
  // the task gets no ready check meanwhile (it must not count as serving, even briefly).
  const bool ended = Watch(guarded);
  // Known already (a repeated call, RecoverTask after the state-dir scan, or a task whose
  // hand-over had begun): its state stands.
  if (guarded->life != Life::kNone) return;
  guarded->ready = std::move(ready);
  if (recorded) {
    EnterRecordedStop(guarded);
    Evaluate(guarded->ref, "its hand-over was recorded before the plugin stopped");
    return;
  }
  if (!SetLife(guarded, entry, entry == Life::kStarting ? "StartTask" : "RecoverTask")) return;
  if (!ended) StartProbing(guarded);
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
  const absl::Time attempt_start = clock_->Now();
  ProbeResult result = parts_.prober->Probe(check, AttemptTimeout(check));
  const absl::Duration attempt = clock_->Now() - attempt_start;
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
  // Spaced by the attempt's own duration (NextAttemptDelay), so a slow endpoint cannot keep
  // the single worker busy.
  const absl::Duration next = NextAttemptDelay(
      guarded->life == Life::kNotReady ? kLateReadyInterval : check.interval, attempt);
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
  if (guarded == nullptr) {
    // Not met yet (its RecoverTask failed): a hand-over recorded for it is over.
    if (recorded_handovers_.erase(task.task_id) > 0) SaveHandovers();
    return;
  }
  if (guarded->life == Life::kExited) return;  // told twice
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
  const bool was_recorded = recorded_handovers_.erase(task.task_id) > 0;
  auto it = guarded_.find(task.task_id);
  if (it == guarded_.end()) {
    if (was_recorded) SaveHandovers();
    return;
  }
  const TaskRef ref = it->second.ref;
  const bool was_stopping = it->second.life == Life::kStopping;
  guarded_.erase(it);
  if (was_stopping || was_recorded) SaveHandovers();
  Evaluate(ref, "no guarded task is running on this node");
}

}  // namespace carp_exec::failover
