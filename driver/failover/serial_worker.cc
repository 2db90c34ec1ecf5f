#include "driver/failover/serial_worker.h"

#include <vector>

#include "driver/mutex_lock.h"

namespace carp_exec::failover {

SerialWorker::SerialWorker(Clock* clock) : clock_(clock), thread_([this] { Loop(); }) {}

void SerialWorker::Stop() {
  {
    carp_exec::MutexLock lock(mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

SerialWorker::~SerialWorker() {
  std::vector<Job> dropped;
  Stop();
  {
    carp_exec::MutexLock lock(mu_);
    for (auto& [key, entry] : queue_) {
      if (entry.on_drop) dropped.push_back(std::move(entry.on_drop));
    }
    queue_.clear();
  }
  for (Job& job : dropped) job();
}

void SerialWorker::PostAt(absl::Time due, Job job, Job on_drop) {
  carp_exec::MutexLock lock(mu_);
  queue_.emplace(std::make_pair(due, next_sequence_++), Entry{std::move(job), std::move(on_drop)});
}

void SerialWorker::Loop() {
  for (;;) {
    Job job;
    {
      carp_exec::MutexLock lock(mu_);
      for (;;) {
        if (stopping_) return;
        if (queue_.empty()) {
          // Nothing scheduled: sleep until something is posted.
          auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return stopping_ || !queue_.empty();
          };
          clock_->AwaitWithTimeout(&mu_, absl::Condition(&has_work), absl::InfiniteDuration());
          continue;
        }
        auto first = queue_.begin();
        const absl::Time due = first->first.first;
        const absl::Time now = clock_->Now();
        if (due <= now) {
          job = std::move(first->second.job);
          queue_.erase(first);
          break;
        }
        // Wake up for the due time, or earlier when an earlier job is posted or we stop.
        const uint64_t seen = next_sequence_;
        auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || next_sequence_ != seen;
        };
        clock_->AwaitWithTimeout(&mu_, absl::Condition(&changed), due - now);
      }
    }
    job();
  }
}

}  // namespace carp_exec::failover
