#include "driver/tasks/timer_queue.h"

#include <utility>

#include "driver/mutex_lock.h"
#include "driver/tasks/monotonic_time.h"

namespace carp_exec::tasks {

TimerQueue::TimerQueue() : thread_([this] { Loop(); }) {}

TimerQueue::~TimerQueue() {
  {
    carp_exec::MutexLock lock(mu_);
    stopping_ = true;
    wakeup_.Signal();
  }
  thread_.join();
}

TimerQueue::TimerId TimerQueue::ScheduleAt(absl::Time when, std::function<void()> fn) {
  carp_exec::MutexLock lock(mu_);
  TimerId id = next_id_++;
  pending_.emplace(std::make_pair(when, id), std::move(fn));
  deadline_of_.emplace(id, when);
  wakeup_.Signal();  // the new timer may be the earliest
  return id;
}

TimerQueue::TimerId TimerQueue::ScheduleAfter(absl::Duration delay, std::function<void()> fn) {
  return ScheduleAt(MonotonicNow() + delay, std::move(fn));
}

bool TimerQueue::Cancel(TimerId id) {
  carp_exec::MutexLock lock(mu_);
  auto it = deadline_of_.find(id);
  if (it == deadline_of_.end()) return false;
  pending_.erase(std::make_pair(it->second, id));
  deadline_of_.erase(it);
  return true;
}

void TimerQueue::Loop() {
  // Each due timer is taken out under the lock and run after the scope ends, so callbacks may
  // schedule or cancel timers themselves.
  while (true) {
    std::function<void()> fn;
    {
      carp_exec::MutexLock lock(mu_);
      while (!stopping_ && !fn) {
        if (pending_.empty()) {
          wakeup_.Wait(&mu_);
          continue;
        }
        absl::Time first = pending_.begin()->first.first;
        const absl::Time now = MonotonicNow();
        if (first > now) {
          // Relative and sliced: `first` is monotonic (see monotonic_time.h).
          wakeup_.WaitWithTimeout(&mu_, WaitSlice(first, now));
          continue;
        }
        auto it = pending_.begin();
        fn = std::move(it->second);
        deadline_of_.erase(it->first.second);
        pending_.erase(it);
      }
      if (!fn) return;  // stopping
    }
    fn();
  }
}

}  // namespace carp_exec::tasks
