// Tasks outliving the TaskRunner: a new runner over the same state dir recovers running and
// exited tasks; a lost supervisor is reported, never silently adopted.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "carp_exec/driver_state.pb.h"
#include "driver/tasks/state_dir.h"
#include "driver/tasks/task_runner.h"
#include "driver/tasks/task_test_support.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

using testing::MakeRunner;
using testing::ShellTask;
using testing::TempDir;
using testing::WaitExit;
using testing::WaitForFile;

class TaskRecoveryTest : public ::testing::Test {
 protected:
  std::string StateDir() const { return dir_.Sub("state"); }
  LaunchSpec Shell(const std::string& id, const std::string& script) {
    return ShellTask(id, script, dir_.path());
  }
  // Starts a task on a runner that is then dropped, as when the plugin dies.
  StartedTask StartOnDeadRunner(const LaunchSpec& spec) {
    std::unique_ptr<TaskRunner> first = MakeRunner(StateDir());
    absl::StatusOr<StartedTask> started = first->Start(spec);
    EXPECT_TRUE(started.ok()) << started.status();
    return started.ok() ? *started : StartedTask{};
  }
  void KillLeftovers(TaskRunner& runner) {
    for (const TaskProcessInfo& task : runner.RunningProcesses()) {
      (void)runner.Destroy(task.task_id, /*force=*/true);
    }
  }

  TempDir dir_;
};

TEST_F(TaskRecoveryTest, RunningTaskIsAdoptedAndStillControllable) {
  StartedTask started = StartOnDeadRunner(Shell("run", "touch ready; while :; do sleep 1; done"));
  ASSERT_TRUE(WaitForFile(dir_.Sub("ready")));
  std::unique_ptr<TaskRunner> second = MakeRunner(StateDir());
  // Nomad's client leaves RecoverTaskRequest.task_id empty; the id comes from driver_state.
  ASSERT_TRUE(second->Recover("", started.driver_state).ok());
  EXPECT_TRUE(second->Recover("run", started.driver_state).ok()) << "known task ⇒ no-op";
  absl::StatusOr<TaskStatus> status = second->Inspect("run");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, TaskState::kRunning);
  EXPECT_EQ(status->pid, started.pid);
  EXPECT_EQ(status->started_at, started.started_at);
  EXPECT_TRUE(testing::ProcessAlive(started.pid));
  EXPECT_TRUE(testing::StopAndWait(*second, "run", absl::Seconds(5), SIGTERM).ok());
  absl::StatusOr<ExitResult> result = WaitExit(*second, "run");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->signal, SIGTERM);
  EXPECT_TRUE(second->Destroy("run", false).ok());
}

TEST_F(TaskRecoveryTest, TaskThatExitedMeanwhileReportsItsTrueStatus) {
  ASSERT_EQ(mkfifo(dir_.Sub("gate").c_str(), 0600), 0);
  StartedTask started = StartOnDeadRunner(Shell("gone", "read x < ./gate; exit 7"));
  int gate = open(dir_.Sub("gate").c_str(), O_WRONLY);
  ASSERT_GE(gate, 0);
  ASSERT_EQ(write(gate, "x\n", 2), 2);
  close(gate);
  ASSERT_TRUE(WaitForFile(TaskStateDir(StateDir(), "gone") + "/" + kExitFile));
  std::unique_ptr<TaskRunner> second = MakeRunner(StateDir());
  ASSERT_TRUE(second->Recover("gone", started.driver_state).ok());
  absl::StatusOr<TaskStatus> status = second->Inspect("gone");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, TaskState::kExited);
  EXPECT_EQ(status->result.exit_code, 7);
  EXPECT_GE(status->completed_at, status->started_at);
  EXPECT_EQ(WaitExit(*second, "gone")->exit_code, 7);
  EXPECT_TRUE(second->Destroy("gone", false).ok());
  EXPECT_EQ(testing::CountEntries(TasksRoot(StateDir())), 0);
}

TEST_F(TaskRecoveryTest, KilledSupervisorEndsTheTaskWithMinusOne) {
  std::unique_ptr<TaskRunner> runner = MakeRunner(StateDir());
  ASSERT_TRUE(runner->Start(Shell("orphan", "while :; do sleep 1; done")).ok());
  absl::StatusOr<TaskProcessInfo> info = runner->ProcessOf("orphan");
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(kill(info->supervisor_pid, SIGKILL), 0);
  absl::StatusOr<ExitResult> result = WaitExit(*runner, "orphan");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->exit_code, -1);
  EXPECT_TRUE(absl::StrContains(result->err, "without recording")) << result->err;
  EXPECT_TRUE(testing::WaitForProcessGone(info->pid)) << "orphaned task must not keep running";
  EXPECT_TRUE(runner->Destroy("orphan", false).ok());
}

TEST_F(TaskRecoveryTest, LostSupervisorCannotBeRecovered) {
  StartedTask started = StartOnDeadRunner(Shell("lost", "while :; do sleep 1; done"));
  std::unique_ptr<TaskRunner> probe = MakeRunner(StateDir());
  ASSERT_TRUE(probe->Recover("lost", started.driver_state).ok());
  pid_t supervisor = probe->ProcessOf("lost")->supervisor_pid;
  probe.reset();  // the plugin dies again; now the supervisor dies too
  ASSERT_EQ(kill(supervisor, SIGKILL), 0);
  ASSERT_TRUE(testing::WaitForProcessGone(supervisor));

  std::unique_ptr<TaskRunner> second = MakeRunner(StateDir());
  absl::Status recovered = second->Recover("lost", started.driver_state);
  EXPECT_EQ(recovered.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(recovered.message(), "task lost cannot be recovered: supervisor"))
      << recovered;
  EXPECT_TRUE(absl::StrContains(recovered.message(), "no exit status was recorded")) << recovered;
  EXPECT_TRUE(testing::WaitForProcessGone(started.pid)) << "orphan must be killed";
  EXPECT_EQ(second->Inspect("lost").status().code(), absl::StatusCode::kNotFound);
  (void)RemoveTaskDir(TaskStateDir(StateDir(), "lost"));
}

TEST_F(TaskRecoveryTest, ScanStateDirSeesRunningExitedAndLostTasks) {
  LaunchSpec guarded = Shell("guarded", "while :; do sleep 1; done");
  guarded.guarded = true;
  guarded.ready = "ready-spec";
  StartedTask running = StartOnDeadRunner(guarded);
  StartedTask exited = StartOnDeadRunner(Shell("exited", "exit 0"));
  ASSERT_TRUE(WaitForFile(TaskStateDir(StateDir(), "exited") + "/" + kExitFile));
  std::vector<PersistedTask> found = ScanStateDir(StateDir());
  ASSERT_EQ(found.size(), 2u);
  for (const PersistedTask& task : found) {
    if (task.task_id == "guarded") {
      EXPECT_TRUE(task.guarded);
      EXPECT_EQ(task.ready, "ready-spec");
      EXPECT_EQ(task.liveness, PersistedTask::Liveness::kRunning);
    } else {
      EXPECT_EQ(task.task_id, "exited");
      EXPECT_FALSE(task.guarded);
      EXPECT_EQ(task.liveness, PersistedTask::Liveness::kExited);
    }
  }
  std::unique_ptr<TaskRunner> second = MakeRunner(StateDir());
  ASSERT_TRUE(second->Recover("guarded", running.driver_state).ok());
  EXPECT_TRUE(second->Inspect("guarded")->guarded);
  ASSERT_EQ(kill(second->ProcessOf("guarded")->supervisor_pid, SIGKILL), 0);
  ASSERT_EQ(WaitExit(*second, "guarded")->exit_code, -1);
  for (const PersistedTask& task : ScanStateDir(StateDir())) {
    if (task.task_id == "guarded") {
      EXPECT_EQ(task.liveness, PersistedTask::Liveness::kLost);
    }
  }
  EXPECT_TRUE(second->Destroy("guarded", false).ok());
  ASSERT_TRUE(second->Recover("exited", exited.driver_state).ok());
  EXPECT_TRUE(second->Destroy("exited", false).ok());
  EXPECT_TRUE(ScanStateDir(StateDir()).empty());
}

TEST_F(TaskRecoveryTest, ForeignDriverStateIsRejected) {
  std::unique_ptr<TaskRunner> runner = MakeRunner(StateDir());
  EXPECT_EQ(runner->Recover("x", "not a proto \xff\xff").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(runner->Recover("x", "").code(), absl::StatusCode::kInvalidArgument);
  StartedTask started = StartOnDeadRunner(Shell("mine", "exit 0"));
  EXPECT_EQ(runner->Recover("someone-else", started.driver_state).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(runner->Recover("mine", started.driver_state).ok());
  ASSERT_TRUE(WaitExit(*runner, "mine").ok());
  EXPECT_TRUE(runner->Destroy("mine", false).ok());
  KillLeftovers(*runner);
}

// Issue 9: RecoverTask never trusts the handle. A process group of 0, 1 or the plugin's own
// (kill(-pgid) would SIGKILL the plugin's group or everything), one not led by the task, or a
// directory that is not this task's under state_dir is refused; nothing is signalled or read.
TEST_F(TaskRecoveryTest, TamperedHandlesAreRefused) {
  StartedTask started =
      StartOnDeadRunner(Shell("victim", "touch ready; while :; do sleep 1; done"));
  ASSERT_TRUE(WaitForFile(dir_.Sub("ready")));
  std::unique_ptr<TaskRunner> second = MakeRunner(StateDir());
  state::DriverState real;
  ASSERT_TRUE(real.ParseFromString(started.driver_state));
  std::vector<std::pair<std::string, state::DriverState>> forged;
  for (int64_t pgid : {int64_t{0}, int64_t{1}, int64_t{getpgrp()}, int64_t{-1}}) {
    state::DriverState ds = real;
    ds.set_task_pgid(pgid);
    forged.emplace_back(absl::StrCat("pgid ", pgid), ds);
  }
  state::DriverState not_leader = real;
  not_leader.set_task_pgid(real.task_pgid() + 1);
  forged.emplace_back("pgid not led by the task", not_leader);
  state::DriverState elsewhere = real;
  elsewhere.set_task_state_dir(dir_.path());
  forged.emplace_back("dir outside state_dir/tasks", elsewhere);
  state::DriverState other_hash = real;
  other_hash.set_task_state_dir(TaskStateDir(StateDir(), "another-task"));
  forged.emplace_back("dir of another task id", other_hash);
  state::DriverState dotdot = real;
  dotdot.set_task_state_dir(TaskStateDir(StateDir(), "victim") + "/../../..");
  forged.emplace_back("dir with ..", dotdot);
  for (const auto& [what, ds] : forged) {
    absl::Status recovered = second->Recover("victim", ds.SerializeAsString());
    EXPECT_EQ(recovered.code(), absl::StatusCode::kInvalidArgument) << what << ": " << recovered;
    EXPECT_FALSE(second->Inspect("victim").ok()) << what << ": a refused handle is not adopted";
  }
  EXPECT_TRUE(testing::ProcessAlive(started.pid)) << "a refused handle signals nothing";
  EXPECT_TRUE(second->Recover("victim", started.driver_state).ok());
  EXPECT_TRUE(second->Destroy("victim", /*force=*/true).ok());
  KillLeftovers(*second);
}

}  // namespace
}  // namespace carp_exec::tasks
