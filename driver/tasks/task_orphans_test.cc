// Nomad's restore path (client/allocrunner/taskrunner/task_runner.go, restoreHandle): a failed
// RecoverTask is never retried; Nomad force-destroys the task id and later starts a new task.
// So Recover waits for a silent supervisor for a bounded time and then ends the task, and a
// forced destroy of an id the runner does not know cleans what the state dir still holds.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "carp_exec/driver_state.pb.h"
#include "driver/tasks/process_identity.h"
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

// A handle is Nomad's copy; the pid record in our root-only task dir is ours. A handle that
// names another process group (here: an unrelated group leader) gets nothing signalled.
TEST_F(TaskOrphansTest, RecoverNeverKillsAGroupTheTaskRecordDoesNotName) {
  StartedTask started = StartOnDeadRunner("forged");
  ASSERT_EQ(unlink(Socket("forged").c_str()), 0);
  const pid_t victim = fork();
  ASSERT_GE(victim, 0);
  if (victim == 0) {
    setpgid(0, 0);
    execl("/bin/sleep", "sleep", "100", static_cast<char*>(nullptr));
    _exit(127);
  }
  absl::Cleanup reap = [victim] {
    kill(victim, SIGKILL);
    waitpid(victim, nullptr, 0);
  };
  absl::SleepFor(absl::Milliseconds(100));  // the child's setpgid and exec
  state::DriverState ds;
  ASSERT_TRUE(ds.ParseFromString(started.driver_state));
  ds.mutable_task()->set_pid(victim);
  ds.mutable_task()->set_start_time(ProcessStartTime(victim).value_or(0));
  ds.set_task_pgid(victim);
  std::unique_ptr<TaskRunner> second = Runner(absl::Milliseconds(300));
  absl::Status recovered = second->Recover("", ds.SerializeAsString());
  EXPECT_FALSE(recovered.ok());
  EXPECT_TRUE(absl::StrContains(recovered.message(), "nothing was signalled")) << recovered;
  EXPECT_EQ(waitpid(victim, nullptr, WNOHANG), 0) << "a process the task never owned was killed";
  EXPECT_TRUE(testing::ProcessAlive(started.pid));
  EXPECT_TRUE(second->DestroyUnknown("forged").ok());
  EXPECT_TRUE(WaitForProcessGone(started.pid));
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
