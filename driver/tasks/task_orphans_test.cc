// Nomad's restore path (client/allocrunner/taskrunner/task_runner.go, restoreHandle): a failed
// RecoverTask is never retried; Nomad force-destroys the task id and later starts a new task.
// So Recover waits for a silent supervisor for a bounded time and then ends the task, and a
// forced destroy of an id the runner does not know cleans what the state dir still holds.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "carp_exec/driver_state.pb.h"
#include "driver/tasks/state_dir.h"
#include "driver/tasks/task_runner.h"
#include "driver/tasks/task_test_support.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

using testing::MakeRunner;
using testing::TempDir;
using testing::WaitForFile;
using testing::WaitForProcessGone;

class TaskOrphansTest : public ::testing::Test {
 protected:
  std::string StateDir() const { return dir_.Sub("state"); }
  std::string Socket(const std::string& id) const {
    return TaskStateDir(StateDir(), id) + "/" + kSocketFile;
  }
  std::unique_ptr<TaskRunner> Runner(absl::Duration patience) {
    TaskRunnerOptions options = testing::TestOptions(StateDir());
    options.recover_patience = patience;
    absl::StatusOr<std::unique_ptr<TaskRunner>> runner = TaskRunner::Create(options);
    EXPECT_TRUE(runner.ok()) << runner.status();
    return runner.ok() ? *std::move(runner) : nullptr;
  }
  // A guarded task started by a runner that then dies, as when the plugin crashes.
  StartedTask StartOnDeadRunner(const std::string& id) {
    LaunchSpec spec = testing::ShellTask(id, "touch ready; while :; do sleep 1; done", dir_.path());
    spec.guarded = true;
    spec.alloc_id = "alloc-1";
    spec.task_name = "traefik";
    std::unique_ptr<TaskRunner> first = MakeRunner(StateDir());
    absl::StatusOr<StartedTask> started = first->Start(spec);
    EXPECT_TRUE(started.ok()) << started.status();
    EXPECT_TRUE(WaitForFile(dir_.Sub("ready")));
    return started.ok() ? *started : StartedTask{};
  }
  static pid_t SupervisorOf(const StartedTask& started) {
    state::DriverState ds;
    EXPECT_TRUE(ds.ParseFromString(started.driver_state));
    return ds.supervisor().pid();
  }

  TempDir dir_;
};

TEST_F(TaskOrphansTest, RecoverWaitsForASilentSupervisorThatAnswersAgain) {
  StartedTask started = StartOnDeadRunner("slow");
  // The supervisor lives, but nobody listens on the socket path for a while.
  ASSERT_EQ(rename(Socket("slow").c_str(), (Socket("slow") + ".away").c_str()), 0);
  std::thread back([&] {
    absl::SleepFor(absl::Milliseconds(300));
    (void)rename((Socket("slow") + ".away").c_str(), Socket("slow").c_str());
  });
  std::unique_ptr<TaskRunner> second = Runner(absl::Seconds(30));
  absl::Status recovered = second->Recover("", started.driver_state);
  back.join();
  ASSERT_TRUE(recovered.ok()) << recovered;
  EXPECT_EQ(second->Inspect("slow")->state, TaskState::kRunning);
  EXPECT_TRUE(testing::ProcessAlive(started.pid));
  EXPECT_TRUE(second->Destroy("slow", /*force=*/true).ok());
  EXPECT_TRUE(WaitForProcessGone(started.pid));
}

TEST_F(TaskOrphansTest, RecoverEndsASupervisorSilentBeyondThePatience) {
  StartedTask started = StartOnDeadRunner("mute");
  const pid_t supervisor = SupervisorOf(started);
  ASSERT_EQ(unlink(Socket("mute").c_str()), 0);  // it will never answer again
  std::unique_ptr<TaskRunner> second = Runner(absl::Milliseconds(500));
  absl::Status recovered = second->Recover("", started.driver_state);
  EXPECT_EQ(recovered.code(), absl::StatusCode::kFailedPrecondition) << recovered;
  EXPECT_TRUE(absl::StrContains(recovered.message(), "did not answer")) << recovered;
  EXPECT_TRUE(absl::StrContains(recovered.message(), "killed process group")) << recovered;
  EXPECT_TRUE(WaitForProcessGone(started.pid)) << "the old task would run beside Nomad's new one";
  EXPECT_TRUE(WaitForProcessGone(supervisor));
  // Nomad's next step: DestroyTask(force) of the id, which this runner does not know.
  EXPECT_EQ(second->Destroy("mute", true).code(), absl::StatusCode::kNotFound);
  absl::StatusOr<TaskStatus> cleaned = second->DestroyUnknown("mute");
  ASSERT_TRUE(cleaned.ok()) << cleaned.status();
  EXPECT_TRUE(cleaned->guarded);
  EXPECT_EQ(cleaned->alloc_id, "alloc-1");
  EXPECT_EQ(cleaned->task_name, "traefik");
  EXPECT_EQ(testing::CountEntries(TasksRoot(StateDir())), 0);
}

TEST_F(TaskOrphansTest, ForcedDestroyOfAnUnrecoveredTaskKillsItAndRemovesItsDir) {
  StartedTask started = StartOnDeadRunner("unrecovered");
  const pid_t supervisor = SupervisorOf(started);
  std::unique_ptr<TaskRunner> second = Runner(absl::Seconds(10));
  absl::StatusOr<TaskStatus> cleaned = second->DestroyUnknown("unrecovered");
  ASSERT_TRUE(cleaned.ok()) << cleaned.status();
  EXPECT_EQ(cleaned->task_id, "unrecovered");
  EXPECT_TRUE(WaitForProcessGone(started.pid));
  EXPECT_TRUE(WaitForProcessGone(supervisor));
  EXPECT_EQ(testing::CountEntries(TasksRoot(StateDir())), 0);
  EXPECT_EQ(second->DestroyUnknown("unrecovered").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TaskOrphansTest, ForcedDestroyKillsTheGroupOfASilentSupervisor) {
  StartedTask started = StartOnDeadRunner("stuck");
  const pid_t supervisor = SupervisorOf(started);
  ASSERT_EQ(unlink(Socket("stuck").c_str()), 0);
  std::unique_ptr<TaskRunner> second = Runner(absl::Seconds(10));
  ASSERT_TRUE(second->DestroyUnknown("stuck").ok());
  EXPECT_TRUE(WaitForProcessGone(started.pid));
  EXPECT_TRUE(WaitForProcessGone(supervisor));
  EXPECT_EQ(testing::CountEntries(TasksRoot(StateDir())), 0);
}

TEST_F(TaskOrphansTest, ForcedDestroyLeavesADirWhoseSpecNamesAnotherTask) {
  // Same directory name (hash of the id), different task inside: not ours to remove.
  ASSERT_EQ(mkdir(StateDir().c_str(), 0700), 0);
  ASSERT_EQ(mkdir(TasksRoot(StateDir()).c_str(), 0700), 0);
  const std::string dir = TaskStateDir(StateDir(), "asked");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  state::LaunchSpec other;
  other.set_task_id("someone-else");
  ASSERT_TRUE(WriteTaskFile(dir, kSpecFile, other.SerializeAsString()).ok());
  std::unique_ptr<TaskRunner> runner = Runner(absl::Seconds(1));
  EXPECT_EQ(runner->DestroyUnknown("asked").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(testing::CountEntries(dir), 1);
}

}  // namespace
}  // namespace carp_exec::tasks
