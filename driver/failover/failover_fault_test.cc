// The hand-over under faults an operator's worst day brings (issue 11): a clock step, a slow
// replacement, overlapping stops, a full disk. Each test is named for what it breaks.

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "driver/failover/atomic_file.h"
#include "driver/failover/clock.h"
#include "driver/failover/coordinator_fixture_for_test.h"
#include "driver/failover/failover_coordinator.h"
#include "driver/failover/failover_files.h"
#include "driver/mutex_lock.h"
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

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

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

TEST_F(FailoverFaultTest, LateReadyStillRestores) {
  // A replacement that serves 40 s after its ready.timeout (ACME, a slow Consul) must not
  // leave the node demoted until the next deploy.
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({}).ok());  // nothing runs: demoted
  // 60 s at 250 ms: 241 attempts up to the timeout, then 20 late ones every 2 s.
  prober_->SetFailures(241 + 19);
  coordinator->GuardedTaskStarted(kNew, TestReadyCheck());
  ASSERT_TRUE(sink_.WaitFor("restored demote count 50 → 0"));
  EXPECT_TRUE(sink_.Has("not ready within 1m"));
  EXPECT_TRUE(sink_.Has("still checking every 2s"));
  EXPECT_TRUE(sink_.Has("task ready late (http://127.0.0.1:8080/ping 200 after 100.0 s)"));
  EXPECT_EQ(backend_.counter(), 0);
  EXPECT_EQ(prober_->attempts(), 241 + 20);
}

TEST_F(FailoverFaultTest, LateReadyStopsProbingWhenTheTaskStops) {
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({}).ok());
  prober_->SetFailures(-1);
  coordinator->GuardedTaskStarted(kNew, TestReadyCheck());
  ASSERT_TRUE(sink_.WaitFor("not ready within 1m"));
  HandOverAndWait(coordinator.get(), kNew);
  coordinator->Flush();
  const int attempts = prober_->attempts();
  clock_.Advance(absl::Minutes(5));
  coordinator->Flush();
  EXPECT_EQ(prober_->attempts(), attempts) << "a stopping task is not probed";
  EXPECT_EQ(backend_.counter(), 50);
}

TEST_F(FailoverFaultTest, OverlappingStopsShareOneConfirmation) {
  // The peer is down: the node stays MASTER. Four stops at once must take one confirm_timeout
  // together, not four in a row.
  const TaskRef tasks[] = {kOld,
                           kNew,
                           {"alloc3/traefik/cccc", "alloc3", "traefik"},
                           {"alloc4/traefik/dddd", "alloc4", "traefik"}};
  auto coordinator = Make();
  std::vector<tasks::PersistedTask> live;
  for (const TaskRef& task : tasks) live.push_back(Live(task, std::nullopt));
  ASSERT_TRUE(coordinator->Start(live).ok());
  observer_->Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  const int observations_before = observer_->calls();
  clock_.Freeze(true);  // all four stops are posted before the first poll can fall due
  const absl::Time start = clock_.Now();
  absl::Mutex mu;
  std::vector<HandoverReport> reports;
  absl::Notification all_done;
  for (const TaskRef& task : tasks) {
    coordinator->HandOver(task, [&](HandoverReport report) {
      carp_exec::MutexLock lock(mu);
      reports.push_back(std::move(report));
      if (reports.size() == 4) all_done.Notify();
    });
  }
  coordinator->Flush();
  clock_.Freeze(false);
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(clock_.Now() - start, TestFailoverConfig().confirm_timeout);
  carp_exec::MutexLock lock(mu);
  for (const HandoverReport& report : reports) {
    EXPECT_FALSE(report.confirmed);
    EXPECT_LE(report.elapsed, TestFailoverConfig().confirm_timeout);
  }
  EXPECT_EQ(backend_.demote_calls(), 1);
  EXPECT_EQ(observer_->calls() - observations_before, 201) << "one confirmation loop";
  int joined = 0;
  for (const std::string& message : sink_.Messages()) {
    joined += absl::StrContains(message, "joined the hand-over in progress (alloc1/traefik)");
  }
  EXPECT_EQ(joined, 3);
}

// A change-event source whose first Wait reports the change the test releases and whose later
// Waits block until the test unblocks them, ignoring their interrupt: a waker thread that cannot
// be woken (a source stuck in the kernel, the 50 ms slice before issue 12's fix).
class StuckAfterOneChange final : public fingerprint::ChangeEventSource {
 public:
  struct Control {
    absl::Notification waiting;  // the first Wait began
    absl::Notification change;   // the test: report the change
    absl::Notification stuck;    // the second Wait began
    absl::Notification unblock;  // the test: let the stuck Wait return
  };
  explicit StuckAfterOneChange(Control* control) : control_(control) {}
  bool Wait(absl::Time /*deadline*/, int /*interrupt_fd*/) override {
    if (++waits_ == 1) {
      control_->waiting.Notify();
      return control_->change.WaitForNotificationWithTimeout(absl::Seconds(10));
    }
    if (waits_ == 2) control_->stuck.Notify();
    (void)control_->unblock.WaitForNotificationWithTimeout(absl::Seconds(10));
    return false;
  }
  absl::string_view Describe() const override { return "stuck after one change"; }

 private:
  Control* control_;
  int waits_ = 0;  // the waker's thread only
};

// Issue 12: the hand-over's end joined the waker before releasing the stops, so the signal
// waited for the waker's thread to leave its Wait (up to its 50 ms slice; ~5 ms median on the
// bed). The stops must be released first, whatever the waker is doing.
TEST_F(FailoverFaultTest, AWakerStuckInItsWaitDoesNotHoldBackTheSignal) {
  StuckAfterOneChange::Control control;
  open_events_ = [&control]() -> std::unique_ptr<fingerprint::ChangeEventSource> {
    return std::make_unique<StuckAfterOneChange>(&control);
  };
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt)}).ok());
  observer_->Replace(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  clock_.Freeze(true);  // no scheduled poll: only the change event can end the hand-over
  absl::Notification released;
  coordinator->HandOver(kOld, [&released](const HandoverReport& report) {
    EXPECT_TRUE(report.confirmed) << report.summary;
    released.Notify();
  });
  ASSERT_TRUE(control.waiting.WaitForNotificationWithTimeout(absl::Seconds(10)));
  observer_->Replace(Seen(VrrpState::kBackup));  // the peer took the VIP
  // The confirming poll waits until the waker's thread is back in its Wait: otherwise the
  // hand-over could end before that, and the join would find the thread not waiting at all.
  observer_->SetGate(&control.stuck);
  control.change.Notify();
  ASSERT_TRUE(control.stuck.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(released.WaitForNotificationWithTimeout(absl::Seconds(5)))
      << "the stop waited for the waker's thread";
  control.unblock.Notify();  // now the join can end
  coordinator->Flush();
  observer_->SetGate(nullptr);
  clock_.Freeze(false);
}

TEST_F(FailoverFaultTest, AStopAfterTheHandOverEndedStartsANewOne) {
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt), Live(kNew, std::nullopt)}).ok());
  HandOverAndWait(coordinator.get(), kOld);
  HandOverAndWait(coordinator.get(), kNew);
  EXPECT_EQ(backend_.demote_calls(), 1) << "already demoted: the second one changes nothing";
  EXPECT_TRUE(sink_.Has("group fake already demoted by carp_exec (our share 50"));
}

// Issue 10.3: the plugin dies during a hand-over; Nomad relaunches it, calls RecoverTask at
// once, then re-runs its kill (client/allocrunner/taskrunner/task_runner.go:
// handleTaskExitResult → restoreHandle, then handleKill → killTask). The node must stay
// demoted from the first hand-over to the task's end.
TEST_F(FailoverFaultTest, PluginCrashMidHandOverNeverRestoresBeforeTheResentStop) {
  {
    auto coordinator = Make();
    ASSERT_TRUE(coordinator->Start({Live(kOld, TestReadyCheck())}).ok());
    HandOverAndWait(coordinator.get(), kOld);
    ASSERT_EQ(backend_.counter(), 50);
    // The plugin dies here: the task still runs and still answers its ready check.
  }
  auto relaunched = Make();
  clock_.Freeze(true);  // the re-sent StopTask comes within recover_stop_grace
  ASSERT_TRUE(relaunched->Start({Live(kOld, TestReadyCheck())}).ok());
  relaunched->GuardedTaskRecovered(kOld, TestReadyCheck());
  relaunched->Flush();
  EXPECT_EQ(prober_->attempts(), 0) << "a stopping task is not probed back to serving";
  HandoverReport again = HandOverAndWait(relaunched.get(), kOld);
  EXPECT_TRUE(again.error.ok());
  clock_.Freeze(false);
  relaunched->GuardedTaskExited(kOld, "exited with status 0");
  relaunched->Flush();
  EXPECT_EQ(backend_.restore_calls(), 0) << "the VIP came back to the node in between";
  EXPECT_EQ(backend_.demote_calls(), 1);
  EXPECT_EQ(backend_.counter(), 50);
}

// Issue 10.3 when the relaunched plugin's first setup fails (a slow ifconfig): Nomad's
// RecoverTask comes while the setup is retried (setup_retry.h). The handovers file is read
// before the setup, so the task stays stopping, the file keeps its id, and the late setup does
// not give the VIP back before the re-sent StopTask.
TEST_F(FailoverFaultTest, HandOverRecordedBeforeACrashSurvivesAFailedFirstSetup) {
  {
    auto coordinator = Make();
    ASSERT_TRUE(coordinator->Start({Live(kOld, TestReadyCheck())}).ok());
    HandOverAndWait(coordinator.get(), kOld);
    ASSERT_EQ(backend_.counter(), 50);
  }
  backend_.SetUsable(absl::UnavailableError("ifconfig timed out after 10s"));
  clock_.Freeze(true);  // no timer falls due unless the test advances the clock
  auto relaunched = Make();
  EXPECT_FALSE(relaunched->Start({Live(kOld, TestReadyCheck())}).ok());
  relaunched->GuardedTaskRecovered(kOld, TestReadyCheck());
  relaunched->Flush();
  relaunched->Flush();
  EXPECT_EQ(prober_->attempts(), 0) << "a stopping task is not probed back to serving";
  absl::StatusOr<std::vector<std::string>> recorded = ReadHandovers(dir_.path());
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  EXPECT_EQ(*recorded, std::vector<std::string>{kOld.task_id});

  backend_.SetUsable(absl::OkStatus());
  clock_.Advance(absl::Seconds(1));  // the first setup retry falls due (setup_retry.h)
  ASSERT_TRUE(sink_.WaitFor("failover is usable again"));
  relaunched->Flush();
  EXPECT_EQ(backend_.restore_calls(), 0) << "the late setup gave the VIP back mid-hand-over";
  recorded = ReadHandovers(dir_.path());
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  EXPECT_EQ(*recorded, std::vector<std::string>{kOld.task_id});

  HandoverReport again = HandOverAndWait(relaunched.get(), kOld);  // Nomad's re-sent StopTask
  EXPECT_TRUE(again.error.ok());
  relaunched->GuardedTaskExited(kOld, "exited with status 0");
  relaunched->Flush();
  clock_.Freeze(false);
  EXPECT_EQ(backend_.restore_calls(), 0) << "the VIP came back to the node in between";
  EXPECT_EQ(backend_.counter(), 50);
}

TEST_F(FailoverFaultTest, NoStopTaskWithinTheGraceMeansTheTaskServesAgain) {
  {
    auto coordinator = Make();
    ASSERT_TRUE(coordinator->Start({Live(kOld, TestReadyCheck())}).ok());
    HandOverAndWait(coordinator.get(), kOld);
  }
  auto relaunched = Make();
  ASSERT_TRUE(relaunched->Start({Live(kOld, TestReadyCheck())}).ok());
  relaunched->GuardedTaskRecovered(kOld, TestReadyCheck());
  ASSERT_TRUE(sink_.WaitFor("no StopTask within recover_stop_grace (1m)"));
  ASSERT_TRUE(sink_.WaitFor("restored demote count 50 → 0"));
  EXPECT_EQ(backend_.counter(), 0);
}

TEST_F(FailoverFaultTest, EventsOfATaskRebuiltFromTheStateDirNameItsAllocAndTask) {
  // Nomad drops a driver event whose alloc id and task name match no task.
  {
    auto coordinator = Make();
    ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt)}).ok());
    HandOverAndWait(coordinator.get(), kOld);
  }
  clock_.Freeze(true);  // the task ends within recover_stop_grace
  auto relaunched = Make();
  tasks::PersistedTask persisted = Live(kOld, std::nullopt);
  ASSERT_TRUE(relaunched->Start({persisted}).ok());
  relaunched->GuardedTaskExited(TaskRef{kOld.task_id, "", ""}, "exited with status 0");
  ASSERT_TRUE(sink_.WaitFor("task exited with status 0"));
  clock_.Freeze(false);
  for (const FailoverEvent& event : sink_.events()) {
    if (event.task.empty()) continue;
    EXPECT_EQ(event.task.alloc_id, "alloc1") << event.message;
    EXPECT_EQ(event.task.task_name, "traefik") << event.message;
  }
}

TEST_F(FailoverFaultTest, DiskFullStillDemotesBeforeSignal) {
  // state_dir shares /var with Nomad's logs; when it fills up, every guarded stop must still
  // demote before its task is signalled. Here every write fails, in place too.
  std::atomic<bool> full{false};
  FailoverCoordinator::Parts parts;
  auto observer = std::make_unique<ScriptedObserver>();
  observer->Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer->Queue(Seen(VrrpState::kBackup));
  parts.observer = std::move(observer);
  parts.backend = std::make_unique<BackendView>(&backend_);
  parts.prober = std::make_unique<ScriptedProber>(0);
  parts.boot_id = "boot-1";
  parts.ledger_disk_full = [&full](absl::string_view) { return full.load(); };
  FailoverCoordinator coordinator(TestFailoverConfig(), dir_.path(), &runner_, &clock_, &sink_,
                                  std::move(parts));
  ASSERT_TRUE(coordinator.Start({Live(kOld, std::nullopt)}).ok());
  coordinator.GuardedTaskRecovered(kOld, std::nullopt);
  coordinator.Flush();
  ASSERT_EQ(backend_.counter(), 0);
  full = true;
  absl::Notification done;
  int counter_at_signal = -1;
  HandoverReport report;
  coordinator.HandOver(kOld, [&](HandoverReport r) {
    counter_at_signal = backend_.counter();  // what the node shows when the task is signalled
    report = std::move(r);
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(counter_at_signal, 50) << "signalled while MASTER: the demotion was skipped";
  EXPECT_TRUE(report.error.ok()) << report.error;
  EXPECT_TRUE(report.confirmed);
  EXPECT_TRUE(sink_.Has("DISK FULL: demoted group fake by 50 but could not record it"));
}

TEST_F(FailoverFaultTest, PluginHoldsTheFailoverLockForItsWholeLife) {
  {
    auto coordinator = Make();
    ASSERT_TRUE(coordinator->Start({}).ok());
    absl::StatusOr<std::unique_ptr<FailoverLock>> other =
        FailoverLock::Acquire(dir_.path(), "carp_exec check --live");
    ASSERT_FALSE(other.ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(other.status()));
    EXPECT_THAT(std::string(other.status().message()), HasSubstr("carp_exec plugin"));
    // A second plugin on the same state dir cannot use failover either.
    auto second = Make();
    EXPECT_THAT(std::string(second->Start({}).message()), HasSubstr("is in use by"));
  }
  EXPECT_TRUE(FailoverLock::Acquire(dir_.path(), "carp_exec check --live").ok());
}

TEST(FailoverFilesTest, HandoversRoundTripAndRejectWhatIsNotATaskId) {
  const std::vector<std::string> ids = {"a1/traefik/0001", "a2/web/0002"};
  absl::StatusOr<std::vector<std::string>> parsed = ParseHandovers(FormatHandovers(ids));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, ids);
  EXPECT_TRUE(ParseHandovers("").ok());
  absl::StatusOr<std::vector<std::string>> bad = ParseHandovers("a1/t/1\nhas space\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("line 2 is not a task id"));
  EXPECT_FALSE(ParseHandovers(std::string(600, 'x')).ok());
}

TEST(FailoverFilesTest, LockRefusesASymlink) {
  TempDirForTest dir;
  ASSERT_TRUE(MakeDirectories(dir.path() + "/failover").ok());
  ASSERT_EQ(::symlink((dir.path() + "/elsewhere").c_str(), LockPath(dir.path()).c_str()), 0);
  absl::StatusOr<std::unique_ptr<FailoverLock>> lock = FailoverLock::Acquire(dir.path(), "t");
  EXPECT_FALSE(lock.ok());
  EXPECT_FALSE(Exists(dir.path() + "/elsewhere")) << "root followed a planted symlink";
}

TEST(FailoverFilesTest, LockRefusesAHardLinkAndLeavesTheOtherFileIntact) {
  TempDirForTest dir;
  ASSERT_TRUE(MakeDirectories(dir.path() + "/failover").ok());
  const std::string victim = dir.path() + "/victim";
  ASSERT_TRUE(WriteFileAtomically(victim, "keep me\n", 0600).ok());
  ASSERT_EQ(::link(victim.c_str(), LockPath(dir.path()).c_str()), 0);
  absl::StatusOr<std::unique_ptr<FailoverLock>> lock = FailoverLock::Acquire(dir.path(), "t");
  ASSERT_FALSE(lock.ok());
  EXPECT_THAT(std::string(lock.status().message()), HasSubstr("2 links"));
  absl::StatusOr<std::optional<std::string>> text = ReadFileIfExists(victim);
  ASSERT_TRUE(text.ok() && text->has_value());
  EXPECT_EQ(**text, "keep me\n") << "the lock truncated a hard-linked file";
}

TEST(TaskRefFromIdTest, SplitsNomadsTaskId) {
  TaskRef ref = TaskRefFromId("5b3c-aa/web/api/1a2b3c4d");
  EXPECT_EQ(ref.alloc_id, "5b3c-aa");
  EXPECT_EQ(ref.task_name, "web/api");
  EXPECT_TRUE(TaskRefFromId("no-slashes").alloc_id.empty());
  EXPECT_TRUE(TaskRefFromId("a//x").alloc_id.empty());
  EXPECT_TRUE(TaskRefFromId("/name/x").alloc_id.empty());
}

TEST_F(FailoverFaultTest, AStopShowsAsAtMostThreeNomadEvents) {
  auto coordinator = Make();
  ASSERT_TRUE(coordinator->Start({Live(kOld, std::nullopt)}).ok());
  coordinator->GuardedTaskRecovered(kOld, std::nullopt);
  observer_->Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_->Queue(Seen(VrrpState::kBackup));
  HandOverAndWait(coordinator.get(), kOld);
  coordinator->GuardedTaskExited(kOld, "exited with status 0");
  coordinator->GuardedTaskDestroyed(kOld);
  coordinator->GuardedTaskStarted(kNew, std::nullopt);
  ASSERT_TRUE(sink_.WaitFor("restored demote count 50 → 0"));
  int shown_for_old = 0;
  for (const FailoverEvent& event : sink_.events()) {
    if (event.task.task_id == kOld.task_id && !event.detail) ++shown_for_old;
  }
  EXPECT_GE(shown_for_old, 2);
  EXPECT_LE(shown_for_old, 3);
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
  carp_exec::MutexLock lock(mu);
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
