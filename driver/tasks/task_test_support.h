#pragma once
// Shared fixtures for the carp_tasks tests: temporary state dirs, shell tasks, blocking waits.

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "driver/tasks/task_runner.h"
#include "driver/tasks/task_types.h"

namespace carp_exec::tasks::testing {

// A fresh directory under /tmp (short, so socket paths fit), removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Options with the test supervisor binary and short kill grace.
TaskRunnerOptions TestOptions(const std::string& state_dir);
std::unique_ptr<TaskRunner> MakeRunner(const std::string& state_dir);

// `/bin/sh -c <script>` with task_dir as cwd and a minimal PATH.
LaunchSpec ShellTask(const std::string& id, const std::string& script, const std::string& task_dir);

// Blocks until the task exits (or `timeout` passes: DeadlineExceeded).
absl::StatusOr<ExitResult> WaitExit(TaskRunner& runner, const std::string& id,
                                    absl::Duration timeout = absl::Seconds(30));
absl::Status StopAndWait(TaskRunner& runner, const std::string& id, absl::Duration timeout,
                         int signo);

// Polls until `path` exists; false after `timeout`.
bool WaitForFile(const std::string& path, absl::Duration timeout = absl::Seconds(20));
// Polls until `pid` is gone or a zombie; false after `timeout`.
bool WaitForProcessGone(pid_t pid, absl::Duration timeout = absl::Seconds(20));
bool ProcessAlive(pid_t pid);  // exists and is not a zombie

std::string ReadFileOrEmpty(const std::string& path);
int CountOpenFds();
int CountEntries(const std::string& dir);

}  // namespace carp_exec::tasks::testing
