// The hand-over under faults an operator's worst day brings (issue 11): a clock step, a slow
// replacement, overlapping stops, a full disk. Each test is named for what it breaks.

#include <atomic>
#include <vector>

#include "absl/synchronization/notification.h"
#include "driver/failover/clock.h"
#include "driver/failover/coordinator_fixture_for_test.h"
#include "driver/failover/failover_coordinator.h"
#include "driver/tasks/monotonic_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {
namespace {

using fingerprint::VrrpState;
using ::testing::HasSubstr;

// Steps the wall clock by an hour, forward then back, at every observation.
class WallSteppingObserver final : public fingerprint::NodeObserver {
 public:
  WallSteppingObserver(FakeClock* clock, fingerprint::Observation seen)
      : clock_(clock), seen_(std::move(seen)) {}
  absl::StatusOr<fingerprint::Observation> Observe() override {
    clock_->StepWallClock((++calls_ % 2 == 1) ? absl::Hours(1) : -absl::Hours(2));
    return seen_;
  }
  absl::Status CheckUsable() override { return absl::OkStatus(); }
  int calls() const { return calls_; }

 private:
  FakeClock* clock_;
  fingerprint::Observation seen_;
  std::atomic<int> calls_{0};
};

using FailoverFaultTest = FailoverCoordinatorTest;

TEST_F(FailoverFaultTest, ClockStepDoesNotFireDeadlines) {
  // The peer is down: the node stays MASTER, so only confirm_timeout ends the wait. The wall
  // clock jumps by hours at every poll; the wait must still last exactly confirm_timeout.
  auto coordinator = Make();
  auto stepping =
      std::make_unique<WallSteppingObserver>(&clock_, Seen(VrrpState::kMaster, {"192.0.2.10"}));
  WallSteppingObserver* observer = stepping.get();
  // Rebuild with the stepping observer (Make() installs a scripted one).
  FailoverCoordinator::Parts parts;
  parts.observer = std::move(stepping);
  parts.backend = std::make_unique<BackendView>(&backend_);
  parts.prober = std::make_unique<ScriptedProber>(-1);
  parts.boot_id = "boot-1";
  coordinator = std::make_unique<FailoverCoordinator>(TestFailoverConfig(), dir_.path(), &runner_,
                                                      &clock_, &sink_, std::move(parts));
  ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt)}).ok());
  const absl::Time wall_before = clock_.WallNow();
  HandoverReport report = HandOverAndWait(coordinator.get(), kOld);
  EXPECT_FALSE(report.confirmed);
  EXPECT_EQ(report.elapsed, TestFailoverConfig().confirm_timeout);
  // 10 s at a 50 ms poll interval: the first poll plus 200.
  EXPECT_EQ(observer->calls(), 1 + 200 + /*Start's status refresh*/ 1);
  EXPECT_NE(clock_.WallNow(), wall_before) << "the test must have stepped the wall clock";

  // A ready check under the same steps times out after its own timeout, not before.
  coordinator->GuardedTaskStarted(kNew, TestReadyCheck());
  ASSERT_TRUE(sink_.WaitFor("not ready within 1m"));
}

TEST(RealClockTest, NowIsTheMonotonicClockAndWallNowTheWallClock) {
  RealClock clock;
  const absl::Time m1 = tasks::MonotonicNow();
  const absl::Time now = clock.Now();
  const absl::Time m2 = tasks::MonotonicNow();
  EXPECT_LE(m1, now);
  EXPECT_LE(now, m2);
  const absl::Time w1 = absl::Now();
  const absl::Time wall = clock.WallNow();
  const absl::Time w2 = absl::Now();
  EXPECT_LE(w1, wall);
  EXPECT_LE(wall, w2);
}

TEST(RealClockTest, SlicedWaitLastsAtLeastItsTimeout) {
  // Cut into kMaxWaitSlice pieces, the wait must still not end early.
  RealClock clock;
  absl::Mutex mu;
  const absl::Duration timeout = tasks::kMaxWaitSlice * 2 + absl::Milliseconds(10);
  const absl::Time start = clock.Now();
  absl::MutexLock lock(&mu);
  EXPECT_FALSE(clock.AwaitWithTimeout(&mu,
                                      absl::Condition(
                                          +[](int*) { return false; }, static_cast<int*>(nullptr)),
                                      timeout));
  EXPECT_GE(clock.Now() - start, timeout);
}

TEST(WaitSliceTest, NeverNegativeNeverLongerThanASlice) {
  const absl::Time now = absl::UnixEpoch() + absl::Hours(5);
  EXPECT_EQ(tasks::WaitSlice(now - absl::Seconds(1), now), absl::ZeroDuration());
  EXPECT_EQ(tasks::WaitSlice(now + absl::Hours(1), now), tasks::kMaxWaitSlice);
  EXPECT_EQ(tasks::WaitSlice(now + absl::Milliseconds(3), now), absl::Milliseconds(3));
}

}  // namespace
}  // namespace carp_exec::failover
