#pragma once
// TimerQueue: one thread that runs callbacks at given times. Used for StopTask escalation and
// reusable for periodic ticks (TaskStats, Fingerprint) without a thread per timer.

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace carp_exec::tasks {

class TimerQueue {
 public:
  using TimerId = uint64_t;  // 0 is never a valid id

  TimerQueue();
  // Drops pending timers without running them and joins the thread. A callback that is running
  // finishes first. Must not be called from a callback.
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Runs `fn` on the timer thread at `when`, a MonotonicNow() time (at once if it is past).
  // Callbacks run one at a time, in deadline order, without any lock held; a slow callback delays
  // the others.
  TimerId ScheduleAt(absl::Time when, std::function<void()> fn);
  TimerId ScheduleAfter(absl::Duration delay, std::function<void()> fn);

  // Removes a pending timer. Returns false if it already ran, is running, or never existed.
  bool Cancel(TimerId id);

 private:
  void Loop();

  absl::Mutex mu_;
  absl::CondVar wakeup_;
  // Ordered by deadline, then by id so equal deadlines keep scheduling order.
  std::map<std::pair<absl::Time, TimerId>, std::function<void()>> pending_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<TimerId, absl::Time> deadline_of_ ABSL_GUARDED_BY(mu_);
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace carp_exec::tasks
