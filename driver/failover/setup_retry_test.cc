// Failover setup that fails at start is retried with bounded backoff until it works, and the
// usability the fingerprint publishes (driver.carp_exec.failover) does not flip on one failed
// live check (issue 10 item 1).

#include "driver/failover/setup_retry.h"

#include <unistd.h>

#include <fstream>

#include "driver/failover/failover_coordinator.h"
#include "driver/failover/failover_test_support.h"
#include "driver/failover/fake_demotion_backend.h"
#include "driver/failover/temp_dir_for_test.h"
#include "driver/log/hclog.h"
#include "fingerprint/fake_command_runner.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {
namespace {

const TaskRef kTask{"alloc1/traefik/aaaa", "alloc1", "traefik"};

TEST(SetupRetryDelayTest, DoublesFromOneSecondAndStopsGrowingAtOneMinute) {
  EXPECT_EQ(SetupRetryDelay(0), absl::Seconds(1));
  EXPECT_EQ(SetupRetryDelay(1), absl::Seconds(2));
  EXPECT_EQ(SetupRetryDelay(5), absl::Seconds(32));
  EXPECT_EQ(SetupRetryDelay(6), absl::Seconds(60));
  EXPECT_EQ(SetupRetryDelay(1000), absl::Seconds(60));
}

class SetupRetryTest : public ::testing::Test {
 protected:
  // The worker fast-forwards the fake clock through every retry; keep their warnings quiet.
  void SetUp() override { log::SetLevel(log::Level::kError); }

  std::unique_ptr<FailoverCoordinator> Make() {
    auto observer = std::make_unique<ScriptedObserver>();
    observer_ = observer.get();
    FailoverCoordinator::Parts parts;
    parts.observer = std::move(observer);
    parts.backend = std::make_unique<BackendView>(&backend_);
    parts.prober = std::make_unique<ScriptedProber>();
    parts.boot_id = "boot-1";
    return std::make_unique<FailoverCoordinator>(TestFailoverConfig(), dir_.path(), &runner_,
                                                 &clock_, &sink_, std::move(parts));
  }

  // A status refresh is due once the last observation is kStatusRefresh old.
  FailoverStatus RefreshedStatus(FailoverCoordinator* coordinator) {
    clock_.Advance(FailoverCoordinator::kStatusRefresh);
    (void)coordinator->Status();
    coordinator->Flush();
    return coordinator->Status();
  }

  TempDirForTest dir_;
  FakeDemotionBackend backend_;
  fingerprint::FakeCommandRunner runner_;
  FakeClock clock_;
  RecordingSink sink_;
  ScriptedObserver* observer_ = nullptr;
};

TEST_F(SetupRetryTest, ToolFailureAtStartHealsWithoutRestartAndKeepsAServingTaskServing) {
  backend_.SetUsable(absl::UnavailableError("ifconfig timed out after 10s"));
  auto coordinator = Make();
  EXPECT_FALSE(coordinator->Start({}).ok());
  FailoverStatus status = coordinator->Status();
  EXPECT_FALSE(status.usable);
  EXPECT_EQ(status.unhealthy, "ifconfig timed out after 10s");
  // A guarded task starts meanwhile (no ready block: ready at once).
  coordinator->GuardedTaskStarted(kTask, std::nullopt);
  coordinator->Flush();

  backend_.SetUsable(absl::OkStatus());
  ASSERT_TRUE(sink_.WaitFor("failover is usable again")) << "setup was not retried";
  coordinator->Flush();
  EXPECT_TRUE(coordinator->Status().usable) << coordinator->Status().unhealthy;
  EXPECT_EQ(backend_.demote_calls(), 0) << "the healed node demoted under a serving task";
}

TEST_F(SetupRetryTest, LedgerIoErrorAtStartHealsAndThenDecidesLikeAPluginStart) {
  const std::string blocker = dir_.path() + "/failover";
  std::ofstream(blocker) << "not a directory\n";
  auto coordinator = Make();
  EXPECT_FALSE(coordinator->Start({}).ok());
  EXPECT_FALSE(coordinator->Status().usable);
  ASSERT_EQ(unlink(blocker.c_str()), 0);
  ASSERT_TRUE(sink_.WaitFor("failover is usable again"));
  coordinator->Flush();
  // No guarded task runs here: the node is demoted, as at any plugin start.
  EXPECT_EQ(backend_.counter(), 50);
  EXPECT_TRUE(coordinator->Status().usable);
}

TEST_F(SetupRetryTest, OneFailedLiveCheckDoesNotFlipUsabilityButRepeatedOnesDo) {
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({}).ok());
  observer_->SetUsable(absl::UnavailableError("ifconfig carp0: timed out"));
  for (int i = 1; i < kLiveCheckFailuresToUnusable; ++i) {
    EXPECT_TRUE(RefreshedStatus(coordinator.get()).usable) << "after " << i << " failed checks";
  }
  FailoverStatus status = RefreshedStatus(coordinator.get());
  EXPECT_FALSE(status.usable);
  EXPECT_EQ(status.unhealthy, "ifconfig carp0: timed out");
  // While it stays unusable, the reason (the health description) does not change.
  observer_->SetUsable(absl::UnavailableError("ifconfig carp0: timed out after 2.1 s"));
  EXPECT_EQ(RefreshedStatus(coordinator.get()).unhealthy, "ifconfig carp0: timed out");
  observer_->SetUsable(absl::OkStatus());
  EXPECT_TRUE(RefreshedStatus(coordinator.get()).usable);
}

}  // namespace
}  // namespace carp_exec::failover
