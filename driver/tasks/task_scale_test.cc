// 200 tasks started, stopped and destroyed: nothing may leak (fds, processes, files).
#include <unistd.h>

#include <csignal>

#include "absl/strings/str_cat.h"
#include "driver/tasks/state_dir.h"
#include "driver/tasks/task_runner.h"
#include "driver/tasks/task_test_support.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

constexpr int kTasks = 200;

TEST(TaskScaleTest, TwoHundredTasksLeaveNoFdProcessOrFile) {
  testing::TempDir dir;
  std::string state_dir = dir.Sub("state");
  std::unique_ptr<TaskRunner> runner = testing::MakeRunner(state_dir);
  int fds_before = testing::CountOpenFds();
  std::vector<pid_t> pids;
  for (int i = 0; i < kTasks; ++i) {
    absl::StatusOr<StartedTask> started = runner->Start(
        testing::ShellTask(absl::StrCat("alloc/scale/", i), "exec sleep 1000", dir.path()));
    ASSERT_TRUE(started.ok()) << i << ": " << started.status();
    pids.push_back(started->pid);
  }
  std::vector<TaskProcessInfo> running = runner->RunningProcesses();
  ASSERT_EQ(running.size(), static_cast<size_t>(kTasks));
  std::vector<pid_t> supervisors;
  for (const TaskProcessInfo& task : running) supervisors.push_back(task.supervisor_pid);
  // One watch connection per running task, nothing more.
  EXPECT_EQ(testing::CountOpenFds(), fds_before + kTasks);

  // Stop half with a signal, half with an immediate SIGKILL; destroy all.
  for (int i = 0; i < kTasks; ++i) {
    std::string id = absl::StrCat("alloc/scale/", i);
    ASSERT_TRUE(
        testing::StopAndWait(*runner, id, i % 2 ? absl::ZeroDuration() : absl::Seconds(5), SIGTERM)
            .ok())
        << id;
    ASSERT_TRUE(runner->Destroy(id, /*force=*/false).ok()) << id;
  }
  for (pid_t pid : pids) EXPECT_TRUE(testing::WaitForProcessGone(pid)) << pid;
  for (pid_t pid : supervisors) EXPECT_TRUE(testing::WaitForProcessGone(pid)) << pid;
  EXPECT_EQ(testing::CountEntries(TasksRoot(state_dir)), 0);
  // Watch fds are closed by the watcher thread; give it its turn.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (testing::CountOpenFds() != fds_before && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(testing::CountOpenFds(), fds_before);
}

}  // namespace
}  // namespace carp_exec::tasks
