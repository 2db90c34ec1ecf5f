// The hold/restore rules of the coordinator, with a fake backend, observer, prober and clock.

#include "driver/failover/failover_coordinator.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "driver/failover/atomic_file.h"
#include "driver/failover/coordinator_fixture_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {
namespace {

using fingerprint::VrrpState;
using ::testing::HasSubstr;

TEST_F(FailoverCoordinatorTest, StartWithNoGuardedTaskDemotes) {
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({}).ok());
  EXPECT_EQ(backend_.counter(), 50);
  EXPECT_TRUE(sink_.Has("demoted group fake by 50 (demote count 0 → 50): plugin start"));
  FailoverStatus status = coordinator->Status();
  EXPECT_TRUE(status.usable) << status.unhealthy;
  EXPECT_TRUE(status.demoted);
  EXPECT_EQ(status.share, 50);
  EXPECT_EQ(status.backend, "openbsd-carp");
}

TEST_F(FailoverCoordinatorTest, RestartWithALiveGuardedTaskChangesNothing) {
  // The task serves, the node is not demoted; the plugin (or Nomad client) restarts.
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({Live(kOld, TestReadyCheck())}).ok());
  coordinator->Flush();
  EXPECT_EQ(backend_.counter(), 0);
  EXPECT_EQ(backend_.demote_calls(), 0);
  // RecoverTask then reports it; a passing ready check must not move anything either.
  coordinator->GuardedTaskStarted(kOld, TestReadyCheck());
  coordinator->Flush();
  EXPECT_EQ(backend_.demote_calls() + backend_.restore_calls(), 0);
}

TEST_F(FailoverCoordinatorTest, RestartWithoutALiveGuardedTaskDemotesOnce) {
  { ASSERT_TRUE(Make()->Start({}).ok()); }
  tasks::PersistedTask exited = Live(kOld, std::nullopt);
  exited.liveness = tasks::PersistedTask::Liveness::kExited;
  { ASSERT_TRUE(Make()->Start({exited}).ok()); }
  EXPECT_EQ(backend_.counter(), 50);
  EXPECT_EQ(backend_.demote_calls(), 1);
}

TEST_F(FailoverCoordinatorTest, FullRollingUpdateHoldsUntilTheReplacementIsReady) {
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({Live(kOld, TestReadyCheck())}).ok());
  observer_->Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_->Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_->Queue(Seen(VrrpState::kBackup));
  HandoverReport report = HandOverAndWait(coordinator.get(), kOld);
  EXPECT_TRUE(report.confirmed);
  EXPECT_TRUE(report.waited);
  EXPECT_EQ(backend_.counter(), 50);

  coordinator->GuardedTaskExited(kOld);
  coordinator->Flush();
  EXPECT_EQ(backend_.counter(), 50) << "undemote after the kill black-holes traffic";
  EXPECT_TRUE(sink_.Has("this node stays demoted (our share 50)"));
  coordinator->GuardedTaskDestroyed(kOld);

  prober_->SetFailures(3);
  coordinator->GuardedTaskStarted(kNew, TestReadyCheck());
  ASSERT_TRUE(sink_.WaitFor("restored demote count 50 → 0"));
  EXPECT_EQ(backend_.counter(), 0);
  EXPECT_EQ(prober_->attempts(), 4);
  EXPECT_TRUE(sink_.Has(
      "restored demote count 50 → 0: task ready (http://127.0.0.1:8080/ping 200 after 750 ms)"));
  EXPECT_EQ(backend_.restore_calls(), 1);
}

TEST_F(FailoverCoordinatorTest, SlowReadyAttemptsAreSpacedByTenTimesTheirDuration) {
  // interval 50ms, each attempt blocks 500 ms: the next one waits 10 × 500 ms, not 50 ms, so the
  // worker stays free ~10/11 of the time (NextAttemptDelay in ready_probe.h).
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({}).ok());
  prober_->SetFailures(3);
  prober_->SetAttemptCost(&clock_, absl::Milliseconds(500));
  config::ReadyCheck check = TestReadyCheck();
  check.interval = absl::Milliseconds(50);
  coordinator->GuardedTaskStarted(kNew, check);
  ASSERT_TRUE(sink_.WaitFor("task ready ("));
  EXPECT_EQ(prober_->attempts(), 4);
  // Attempts end at 0.5, 6.0, 11.5 and 17.0 s (at 2.1 s if spaced by the interval alone).
  EXPECT_TRUE(sink_.Has("task ready (http://127.0.0.1:8080/ping 200 after 17.0 s)"));
}

TEST_F(FailoverCoordinatorTest, ReadyTimeoutKeepsTheNodeDemoted) {
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({}).ok());
  prober_->SetFailures(-1);
  coordinator->GuardedTaskStarted(kNew, TestReadyCheck());
  ASSERT_TRUE(sink_.WaitFor("not ready within 1m"));
  EXPECT_TRUE(sink_.Has("this node stays demoted"));
  EXPECT_EQ(backend_.counter(), 50);
  EXPECT_GT(prober_->attempts(), 200);
}

TEST_F(FailoverCoordinatorTest, NoReadyBlockRestoresAtOnce) {
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({}).ok());
  coordinator->GuardedTaskStarted(kNew, std::nullopt);
  ASSERT_TRUE(sink_.WaitFor("restored demote count 50 → 0: task running (no ready block)"));
  EXPECT_EQ(prober_->attempts(), 0);
}

TEST_F(FailoverCoordinatorTest, CrashDemotesAtOnce) {
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt)}).ok());
  coordinator->GuardedTaskStarted(kOld, std::nullopt);
  coordinator->Flush();
  EXPECT_EQ(backend_.counter(), 0);
  coordinator->GuardedTaskExited(kOld);
  ASSERT_TRUE(sink_.WaitFor("the guarded task exited unexpectedly"));
  EXPECT_EQ(backend_.counter(), 50);
  EXPECT_EQ(clock_.slept(), absl::ZeroDuration()) << "a crash does not wait for confirmation";
}

// The exit watch like the driver's (TaskRunner::Wait): false until RecoverTask put the task
// into the runner; then a task that had already ended is reported at once, during the call.
class ExitedBeforeRecoverTask {
 public:
  FailoverCoordinator::ExitWatch Watch() {
    return [this](const std::string&, std::function<void(std::string)> on_exit) {
      if (!in_runner_.load()) return false;
      on_exit("exited with status 1");
      return true;
    };
  }
  void RecoverTaskRan() { in_runner_.store(true); }

 private:
  std::atomic<bool> in_runner_{false};
};

// Found alive by the plugin start's state-dir scan, ended before Nomad's RecoverTask reached
// the plugin: RecoverTask reports it whatever its state (driver.cc), and the coordinator must
// then see the exit (the peer takes the VIP) instead of keeping it "recovered" until
// DestroyTask.
TEST_F(FailoverCoordinatorTest, RecoveredTaskThatHadExitedIsNotKeptRecovered) {
  ExitedBeforeRecoverTask task;
  watch_exit_ = task.Watch();
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt)}).ok());
  coordinator->Flush();
  ASSERT_EQ(backend_.counter(), 0) << "a live task at plugin start keeps the node as it is";
  task.RecoverTaskRan();
  coordinator->GuardedTaskRecovered(kOld, std::nullopt);
  ASSERT_TRUE(sink_.WaitFor("the guarded task exited unexpectedly"));
  coordinator->Flush();
  EXPECT_EQ(backend_.counter(), 50) << "the ended task kept the node serving";
}

// A recovered task the coordinator did not know (no ready block: it would count as ready at
// once) that had already ended must not restore the node, even for a moment.
TEST_F(FailoverCoordinatorTest, RecoveredTaskThatHadExitedNeverRestoresTheNode) {
  ExitedBeforeRecoverTask task;
  task.RecoverTaskRan();
  watch_exit_ = task.Watch();
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({}).ok());
  ASSERT_EQ(backend_.counter(), 50);
  coordinator->GuardedTaskRecovered(kOld, std::nullopt);
  coordinator->Flush();  // RecoverTask; it queues the exit the watch reported
  coordinator->Flush();  // the exit
  EXPECT_EQ(backend_.restore_calls(), 0) << "the node served under a task that had ended";
  EXPECT_EQ(backend_.counter(), 50);
}

TEST_F(FailoverCoordinatorTest, ConcurrentStopsShareOneDemotion) {
  const TaskRef second{"alloc3/traefik/cccc", "alloc3", "traefik"};
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt), Live(second, std::nullopt)}).ok());
  absl::Notification first_done, second_done;
  coordinator->HandOver(kOld, [&](HandoverReport) { first_done.Notify(); });
  coordinator->HandOver(second, [&](HandoverReport) { second_done.Notify(); });
  ASSERT_TRUE(first_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  ASSERT_TRUE(second_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(backend_.counter(), 50);
  EXPECT_EQ(backend_.demote_calls(), 1);
  EXPECT_TRUE(sink_.Has("group fake already demoted by carp_exec (our share 50"));
}

// observe_via = "kernel": a BACKUP node signals after one look, before any disk write or
// demotion; the stopping task still demotes the node right after.
TEST_F(FailoverCoordinatorTest, BackupNodeSignalsBeforeItDemotes) {
  config::FailoverConfig config = TestFailoverConfig();
  config.observe_via = "kernel";
  auto coordinator = Make(config);
  ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt)}).ok());
  coordinator->Flush();
  ASSERT_EQ(backend_.counter(), 0);
  const int looks = observer_->calls();
  int counter_at_signal = -1;
  int looks_at_signal = -1;
  absl::Notification done;
  HandoverReport result;
  coordinator->HandOver(kOld, [&](HandoverReport report) {
    counter_at_signal = backend_.counter();
    looks_at_signal = observer_->calls();
    result = std::move(report);
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  coordinator->Flush();
  EXPECT_EQ(counter_at_signal, 0) << "the BACKUP node's signal waits for no demotion";
  EXPECT_EQ(looks_at_signal, looks + 1) << "one observation before the signal";
  EXPECT_TRUE(result.confirmed);
  EXPECT_FALSE(result.waited);
  EXPECT_EQ(backend_.counter(), 50) << "a stopping task still keeps the node demoted";
  EXPECT_TRUE(sink_.Has("nothing to hand over, no wait (demoting after the signal)"));
  EXPECT_TRUE(sink_.Has("a guarded task is stopping (signalled at once"));
  // Its exit is the stop, not a crash, and the node stays demoted until a replacement serves.
  coordinator->GuardedTaskExited(kOld);
  coordinator->Flush();
  EXPECT_TRUE(sink_.Has("this node stays demoted (our share 50)"));
}

// A MASTER takes the usual path after the first look: demote, then confirm.
TEST_F(FailoverCoordinatorTest, MasterNodeStillDemotesBeforeItSignals) {
  config::FailoverConfig config = TestFailoverConfig();
  config.observe_via = "kernel";
  auto coordinator = Make(config);
  ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt)}).ok());
  coordinator->Flush();
  observer_->Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_->Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_->Queue(Seen(VrrpState::kBackup));
  int counter_at_signal = -1;
  absl::Notification done;
  coordinator->HandOver(kOld, [&](HandoverReport) {
    counter_at_signal = backend_.counter();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(counter_at_signal, 50);
}

TEST_F(FailoverCoordinatorTest, NoRestoreWhileAnotherHandOverIsInProgress) {
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt)}).ok());
  HandOverAndWait(coordinator.get(), kOld);  // kOld is signalled but has not exited yet
  coordinator->GuardedTaskStarted(kNew, std::nullopt);
  coordinator->Flush();
  EXPECT_EQ(backend_.counter(), 50);
  coordinator->GuardedTaskExited(kOld);
  ASSERT_TRUE(sink_.WaitFor("restored demote count 50 → 0"));
  EXPECT_EQ(backend_.counter(), 0);
}

TEST_F(FailoverCoordinatorTest, HandOverInterruptedByAPluginCrashKeepsTheNodeDemoted) {
  {
    auto coordinator = Make();
    ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt)}).ok());
    HandOverAndWait(coordinator.get(), kOld);
    // The plugin dies here, before kOld exited.
  }
  // Within recover_stop_grace (time frozen: the fake clock would otherwise jump to its end
  // as soon as the worker idles; failover_fault_test covers what happens after it).
  clock_.Freeze(true);
  auto restarted = Make();
  ASSERT_TRUE(restarted->Start({Live(kOld, std::nullopt)}).ok());
  restarted->Flush();
  EXPECT_EQ(backend_.counter(), 50);
  EXPECT_EQ(backend_.restore_calls(), 0);
  clock_.Freeze(false);
}

TEST_F(FailoverCoordinatorTest, RestartDemotedUnderALiveTaskRestoresOnceItIsReady) {
  {
    auto coordinator = Make();
    ASSERT_TRUE(coordinator->Start({}).ok());  // demoted: nothing runs
    prober_->SetFailures(-1);
    coordinator->GuardedTaskStarted(kNew, TestReadyCheck());
    coordinator->Flush();
    // The plugin dies while the replacement is still being probed.
  }
  prober_failures_ = 2;
  auto restarted = Make();
  ASSERT_TRUE(restarted->Start({Live(kNew, TestReadyCheck())}).ok());
  ASSERT_TRUE(sink_.WaitFor("restored demote count 50 → 0"));
  EXPECT_EQ(backend_.counter(), 0);
}

TEST_F(FailoverCoordinatorTest, OthersDemotionIsNeverTakenBack) {
  backend_.OtherUserAdds(128);
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({}).ok());
  EXPECT_EQ(backend_.counter(), 178);
  coordinator->GuardedTaskStarted(kNew, std::nullopt);
  ASSERT_TRUE(sink_.WaitFor("restored demote count 178 → 128"));
  EXPECT_EQ(backend_.counter(), 128);
}

TEST_F(FailoverCoordinatorTest, CorruptLedgerMakesFailoverUnusableButStopsStillWork) {
  ASSERT_TRUE(MakeDirectories(dir_.path() + "/failover").ok());
  ASSERT_TRUE(WriteFileAtomically(dir_.path() + "/failover/ledger", "garbage\n").ok());
  auto coordinator = Make();
  absl::Status started = coordinator->Start({});
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(std::string(started.message()), HasSubstr("is corrupt"));
  FailoverStatus status = coordinator->Status();
  EXPECT_FALSE(status.usable);
  EXPECT_THAT(status.unhealthy, HasSubstr("failover/ledger is corrupt"));
  HandoverReport report = HandOverAndWait(coordinator.get(), kOld);
  EXPECT_FALSE(report.error.ok());
  EXPECT_THAT(report.summary, HasSubstr("stopping the task without a hand-over"));
  EXPECT_EQ(backend_.counter(), 0);
}

TEST_F(FailoverCoordinatorTest, UnusableBackendIsReportedPrecisely) {
  backend_.SetUsable(absl::FailedPreconditionError(
      "failover: ifconfig_path \"/sbin/ifconfig\" cannot be run (no such file)"));
  auto coordinator = Make();
  EXPECT_FALSE(coordinator->Start({}).ok());
  FailoverStatus status = coordinator->Status();
  EXPECT_FALSE(status.usable);
  EXPECT_THAT(status.unhealthy, HasSubstr("ifconfig_path"));
}

TEST_F(FailoverCoordinatorTest, StatusRefreshesTheObservation) {
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt)}).ok());
  observer_->Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  clock_.Advance(FailoverCoordinator::kStatusRefresh);
  coordinator->Status();  // asks for a refresh
  coordinator->Flush();
  EXPECT_EQ(coordinator->Status().state, "MASTER");
}

TEST_F(FailoverCoordinatorTest, ShutdownCancelsPendingHandOvers) {
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({}).ok());
  std::atomic<int> calls{0};
  observer_->Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));  // first hand-over waits 10 s
  for (int i = 0; i < 3; ++i) {
    coordinator->HandOver(kOld, [&](HandoverReport) { ++calls; });
  }
  coordinator.reset();
  EXPECT_EQ(calls.load(), 3);  // each callback ran exactly once, completed or cancelled
}

}  // namespace
}  // namespace carp_exec::failover
