// ChangeWaker: the thread that turns a hand-over's change events into early polls on the
// coordinator's worker (change_waker.h).

#include "driver/failover/change_waker.h"

#include <poll.h>

#include <atomic>
#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "driver/mutex_lock.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {
namespace {

// Changes are queued by the test; Wait hands out one per call, as the kernel socket does.
class QueuedEvents final : public fingerprint::ChangeEventSource {
 public:
  struct State {
    absl::Mutex mu;
    int queued ABSL_GUARDED_BY(mu) = 0;
    int delivered ABSL_GUARDED_BY(mu) = 0;
  };
  explicit QueuedEvents(std::shared_ptr<State> state) : state_(std::move(state)) {}

  // Ignores `interrupt_fd`: these tests are about changes; the destructor's join then takes up
  // to a slice.
  bool Wait(absl::Time deadline, int /*interrupt_fd*/) override {
    carp_exec::MutexLock lock(state_->mu);
    auto has_change = [this]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) { return state_->queued > 0; };
    if (!state_->mu.AwaitWithDeadline(absl::Condition(&has_change), deadline)) return false;
    --state_->queued;
    ++state_->delivered;
    return true;
  }
  absl::string_view Describe() const override { return "queued"; }

 private:
  std::shared_ptr<QueuedEvents::State> state_;
};

void Queue(QueuedEvents::State* state, int changes) {
  carp_exec::MutexLock lock(state->mu);
  state->queued += changes;
}

// Bounded: false if the source has not handed out `count` changes within 10 s.
bool WaitDelivered(QueuedEvents::State* state, int count) {
  carp_exec::MutexLock lock(state->mu);
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu) { return state->delivered >= count; };
  return state->mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(10));
}

struct Calls {
  absl::Mutex mu;
  int count ABSL_GUARDED_BY(mu) = 0;
  int Get() {
    carp_exec::MutexLock lock(mu);
    return count;
  }
  bool WaitFor(int n) {
    carp_exec::MutexLock lock(mu);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return count >= n; };
    return mu.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(10));
  }
};

TEST(ChangeWakerTest, ABurstOfChangesAsksForOneEarlyPollUntilConsumed) {
  auto state = std::make_shared<QueuedEvents::State>();
  Calls calls;
  ChangeWaker waker(std::make_unique<QueuedEvents>(state), [&calls] {
    carp_exec::MutexLock lock(calls.mu);
    ++calls.count;
  });
  Queue(state.get(), 5);
  ASSERT_TRUE(WaitDelivered(state.get(), 5));
  ASSERT_TRUE(calls.WaitFor(1));
  EXPECT_EQ(calls.Get(), 1) << "a burst must not queue one poll per change";

  waker.Consumed();
  Queue(state.get(), 1);
  ASSERT_TRUE(WaitDelivered(state.get(), 6));
  ASSERT_TRUE(calls.WaitFor(2)) << "after Consumed the next change asks again";
  EXPECT_EQ(calls.Get(), 2);
}

TEST(ChangeWakerTest, NoChangeNoCallAndTheDestructorJoins) {
  auto state = std::make_shared<QueuedEvents::State>();
  Calls calls;
  {
    ChangeWaker waker(std::make_unique<QueuedEvents>(state), [&calls] {
      carp_exec::MutexLock lock(calls.mu);
      ++calls.count;
    });
    absl::SleepFor(3 * ChangeWaker::kSlice);  // a few empty slices
  }
  // The thread is gone: a change now reaches no one.
  Queue(state.get(), 1);
  EXPECT_EQ(calls.Get(), 0);
  carp_exec::MutexLock lock(state->mu);
  EXPECT_EQ(state->delivered, 0);
}

// Ignores its deadline: returns only when the interrupt descriptor is readable, or after 10 s
// (then the test fails instead of hanging). Counts the waits and the interrupts it saw.
class InterruptOnlyEvents final : public fingerprint::ChangeEventSource {
 public:
  struct State {
    absl::Notification entered;
    std::atomic<int> interrupted{0};
    std::atomic<int> timed_out{0};
  };
  explicit InterruptOnlyEvents(State* state) : state_(state) {}
  bool Wait(absl::Time /*deadline*/, int interrupt_fd) override {
    if (!state_->entered.HasBeenNotified()) state_->entered.Notify();
    pollfd fd{interrupt_fd, POLLIN, 0};
    // interrupt_fd < 0 (no pipe): poll ignores the entry and sleeps the 10 s out.
    if (::poll(&fd, 1, 10000) == 1 && (fd.revents & POLLIN) != 0) {
      ++state_->interrupted;
    } else {
      ++state_->timed_out;
    }
    return false;
  }
  absl::string_view Describe() const override { return "interrupt only"; }

 private:
  State* state_;
};

// Issue 12: the coordinator joins the waker as a hand-over ends; a join that waited out the
// source's slice held back the release of the stops (the signal came ~5 ms after the VIP left).
TEST(ChangeWakerTest, TheDestructorWakesTheSourcesWaitInsteadOfWaitingItOut) {
  InterruptOnlyEvents::State state;
  auto waker = std::make_unique<ChangeWaker>(std::make_unique<InterruptOnlyEvents>(&state), [] {});
  ASSERT_TRUE(state.entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  waker.reset();  // returns only once the thread left Wait
  EXPECT_EQ(state.interrupted.load(), 1) << "the destructor must wake the source's Wait";
  EXPECT_EQ(state.timed_out.load(), 0);
}

}  // namespace
}  // namespace carp_exec::failover
