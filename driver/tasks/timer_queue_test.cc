#include "driver/tasks/timer_queue.h"

#include <vector>

#include "absl/synchronization/notification.h"
#include "driver/mutex_lock.h"
#include "driver/tasks/monotonic_time.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

TEST(TimerQueueTest, RunsInDeadlineOrder) {
  TimerQueue timers;
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification last;
  absl::Time base = MonotonicNow() + absl::Milliseconds(50);
  // Scheduled out of order; deadlines decide.
  timers.ScheduleAt(base + absl::Milliseconds(20), [&] {
    carp_exec::MutexLock lock(mu);
    order.push_back(3);
    last.Notify();
  });
  timers.ScheduleAt(base, [&] {
    carp_exec::MutexLock lock(mu);
    order.push_back(1);
  });
  timers.ScheduleAt(base + absl::Milliseconds(10), [&] {
    carp_exec::MutexLock lock(mu);
    order.push_back(2);
  });
  ASSERT_TRUE(last.WaitForNotificationWithTimeout(absl::Seconds(10)));
  carp_exec::MutexLock lock(mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(TimerQueueTest, CancelPreventsTheCallback) {
  TimerQueue timers;
  bool ran = false;
  TimerQueue::TimerId id = timers.ScheduleAfter(absl::Hours(1), [&] { ran = true; });
  EXPECT_TRUE(timers.Cancel(id));
  EXPECT_FALSE(timers.Cancel(id));
  EXPECT_FALSE(timers.Cancel(0));
  absl::Notification fired;
  TimerQueue::TimerId done = timers.ScheduleAfter(absl::ZeroDuration(), [&] { fired.Notify(); });
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_FALSE(timers.Cancel(done)) << "already ran";
  EXPECT_FALSE(ran);
}

TEST(TimerQueueTest, AnEarlierTimerPreemptsALaterWait) {
  TimerQueue timers;
  timers.ScheduleAfter(absl::Hours(1), [] {});
  absl::Notification fired;
  timers.ScheduleAfter(absl::Milliseconds(1), [&] { fired.Notify(); });
  EXPECT_TRUE(fired.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

TEST(TimerQueueTest, CallbacksMayScheduleMore) {
  TimerQueue timers;
  absl::Notification second;
  timers.ScheduleAfter(absl::ZeroDuration(), [&] {
    timers.ScheduleAfter(absl::ZeroDuration(), [&] { second.Notify(); });
  });
  EXPECT_TRUE(second.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

}  // namespace
}  // namespace carp_exec::tasks
