#include "driver/service/task_streams.h"

#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "driver/log/hclog.h"
#include "driver/mutex_lock.h"
#include "driver/service/proto_convert.h"
#include "driver/service/status_mapping.h"

namespace carp_exec::service {

// A PushStream that removes itself from its hub map when gRPC is done with it.
template <typename Msg>
class TaskStreams::HubStream final : public host::PushStream<Msg> {
 public:
  HubStream(size_t capacity, std::function<void()> unregister)
      : host::PushStream<Msg>(capacity), unregister_(std::move(unregister)) {}

 private:
  void OnClosed() override { unregister_(); }
  std::function<void()> unregister_;
};

TaskStreams::TaskStreams(Driver* driver)
    : driver_(driver), timers_(std::make_unique<tasks::TimerQueue>()) {
  timers_->ScheduleAfter(kFingerprintCheck, [this] { FingerprintTick(); });
}

TaskStreams::~TaskStreams() {
  CloseAll();
  timers_.reset();  // joins the timer thread before the maps it reads go away
}

grpc::ServerWriteReactor<drivers::FingerprintResponse>* TaskStreams::OpenFingerprint() {
  // The first message goes out at once; Nomad waits for it before using the driver.
  const FingerprintReport report = driver_->Fingerprint();
  drivers::FingerprintResponse first;
  ToProto(report, &first);
  carp_exec::MutexLock lock(mu_);
  const StreamId id = next_id_++;
  auto* stream = new HubStream<drivers::FingerprintResponse>(kStateBacklog, [this, id] {
    carp_exec::MutexLock l(mu_);
    fingerprint_.erase(id);
  });
  if (closed_) {
    stream->Close(grpc::Status::OK);
    return stream;
  }
  fingerprint_[id] = stream;
  stream->Push(std::move(first));
  last_report_ = std::make_unique<FingerprintReport>(report);
  return stream;
}

void TaskStreams::FingerprintTick() {
  {
    // Nothing to do (and no reason to activate the driver) until Nomad opens the stream.
    carp_exec::MutexLock lock(mu_);
    if (closed_) return;
    if (fingerprint_.empty()) {
      timers_->ScheduleAfter(kFingerprintCheck, [this] { FingerprintTick(); });
      return;
    }
  }
  const FingerprintReport report = driver_->Fingerprint();
  const absl::Time now = absl::Now();
  {
    carp_exec::MutexLock lock(mu_);
    if (closed_) return;
    const bool changed = last_report_ == nullptr || !(*last_report_ == report);
    if (changed || now - last_sent_ >= kFingerprintResend) {
      drivers::FingerprintResponse msg;
      ToProto(report, &msg);
      // A client that stopped reading gets the newest state, not a backlog.
      for (auto& [id, stream] : fingerprint_) stream->PushLatest(msg);
      if (changed && last_report_ != nullptr) {
        log::Info("carp_exec", "driver fingerprint changed",
                  {{"health_description", report.description}});
      }
      last_report_ = std::make_unique<FingerprintReport>(report);
      last_sent_ = now;
    }
    // Rescheduled under mu_ only while open, so CloseAll() ends the chain for good.
    timers_->ScheduleAfter(kFingerprintCheck, [this] { FingerprintTick(); });
  }
}

grpc::ServerWriteReactor<drivers::DriverTaskEvent>* TaskStreams::OpenEvents() {
  carp_exec::MutexLock lock(mu_);
  const StreamId id = next_id_++;
  auto* stream = new HubStream<drivers::DriverTaskEvent>(kEventBacklog, [this, id] {
    carp_exec::MutexLock l(mu_);
    events_.erase(id);
  });
  if (closed_) {
    stream->Close(grpc::Status::OK);
  } else {
    events_[id] = stream;
  }
  return stream;
}

void TaskStreams::Emit(const failover::FailoverEvent& event) {
  // A hand-over's "forks" (processes created while it ran) goes into its log line too, where
  // benchmarks read it.
  auto forks = event.annotations.find("forks");
  if (forks == event.annotations.end()) {
    log::Info("carp_exec", event.message,
              {{"task_id", event.task.task_id},
               {"alloc_id", event.task.alloc_id},
               {"task_name", event.task.task_name}});
  } else {
    log::Info("carp_exec", event.message,
              {{"task_id", event.task.task_id},
               {"alloc_id", event.task.alloc_id},
               {"task_name", event.task.task_name},
               {"forks", forks->second}});
  }
  // Nomad routes driver events by alloc id and task name; a node-level event has no task. A
  // hand-over's inner steps stay in the log (Nomad keeps a task's last 10 events only).
  if (event.task.empty() || event.detail) return;
  drivers::DriverTaskEvent msg;
  ToProto(event, absl::Now(), &msg);
  carp_exec::MutexLock lock(mu_);
  for (auto& [id, stream] : events_) {
    if (stream->Push(msg) == host::PushStream<drivers::DriverTaskEvent>::PushResult::kFull) {
      // Logged above already; the client is kEventBacklog events behind.
      log::Warn("carp_exec", "a TaskEvents client is not reading; event dropped for it",
                {{"task_id", event.task.task_id}, {"backlog", absl::StrCat(kEventBacklog)}});
    }
  }
}

grpc::ServerWriteReactor<drivers::TaskStatsResponse>* TaskStreams::OpenStats(
    const std::string& task_id, absl::Duration interval) {
  // Nomad's default collection_interval is 1 s; refuse to spin on a zero interval.
  if (interval < absl::Milliseconds(100)) interval = absl::Milliseconds(100);
  StreamId id;
  HubStream<drivers::TaskStatsResponse>* stream;
  {
    carp_exec::MutexLock lock(mu_);
    id = next_id_++;
    stream = new HubStream<drivers::TaskStatsResponse>(kStateBacklog, [this, id] {
      carp_exec::MutexLock l(mu_);
      stats_.erase(id);
    });
    if (closed_) {
      stream->Close(grpc::Status::OK);
      return stream;
    }
    stats_[id] = StatsStream{stream, task_id, interval};
    // Sample at once, then every interval.
    timers_->ScheduleAfter(absl::ZeroDuration(), [this, id] { StatsTick(id); });
  }
  return stream;
}

void TaskStreams::StatsTick(StreamId id) {
  std::string task_id;
  absl::Duration interval;
  {
    carp_exec::MutexLock lock(mu_);
    auto it = stats_.find(id);
    if (it == stats_.end() || closed_) return;
    task_id = it->second.task_id;
    interval = it->second.interval;
  }
  // Sampling reads the process table; no hub lock is held meanwhile.
  absl::StatusOr<tasks::TaskStats> stats = driver_->TaskStats(task_id);
  {
    carp_exec::MutexLock lock(mu_);
    auto it = stats_.find(id);
    if (it == stats_.end() || closed_) return;
    if (!stats.ok()) {
      // The task exited (FailedPrecondition) or was destroyed (NotFound) after the stream
      // opened: end it with OK, which Nomad's client reads as io.EOF and closes quietly; any
      // other code is logged as an error (plugins/drivers/client.go, TaskStats). Nomad stops
      // asking once the task is dead.
      // An id that never had a sample stays an error (Nomad asked for a task we do not know).
      const bool task_ended = absl::IsFailedPrecondition(stats.status()) ||
                              (absl::IsNotFound(stats.status()) && it->second.sampled);
      it->second.stream->Close(task_ended ? grpc::Status::OK : ToGrpc(stats.status()));
      return;
    }
    it->second.sampled = true;
    drivers::TaskStatsResponse msg;
    ToProto(*stats, msg.mutable_stats());
    it->second.stream->PushLatest(std::move(msg));
    timers_->ScheduleAfter(interval, [this, id] { StatsTick(id); });
  }
}

void TaskStreams::CloseAll() {
  carp_exec::MutexLock lock(mu_);
  closed_ = true;
  for (auto& [id, s] : fingerprint_) s->Close(grpc::Status::OK);
  for (auto& [id, s] : events_) s->Close(grpc::Status::OK);
  for (auto& [id, s] : stats_) s.stream->Close(grpc::Status::OK);
}

}  // namespace carp_exec::service
