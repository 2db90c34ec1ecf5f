#include "driver/tasks/task_test_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "driver/log/hclog.h"
#include "driver/tasks/process_identity.h"

namespace carp_exec::tasks::testing {

TempDir::TempDir() {
  char pattern[] = "/tmp/ctt.XXXXXX";
  const char* made = mkdtemp(pattern);
  if (made == nullptr) abort();
  path_ = made;
}

TempDir::~TempDir() {
  // A supervisor may still be finishing (unlinking its socket) while we remove; an entry that
  // vanished under us is fine, and a second pass picks up anything that appeared.
  for (int pass = 0; pass < 3 && access(path_.c_str(), F_OK) == 0; ++pass) {
    nftw(
        path_.c_str(),
        [](const char* path, const struct stat*, int, struct FTW*) {
          remove(path);
          return 0;
        },
        16, FTW_DEPTH | FTW_PHYS);
  }
}

TaskRunnerOptions TestOptions(const std::string& state_dir) {
  log::SetLevel(log::Level::kWarn);  // keep test output to what matters
  TaskRunnerOptions options;
  options.state_dir = state_dir;
  options.supervisor_path = CARP_TASKS_SUPERVISOR_FOR_TESTS;
  options.kill_grace = absl::Seconds(10);
  return options;
}

std::unique_ptr<TaskRunner> MakeRunner(const std::string& state_dir) {
  absl::StatusOr<std::unique_ptr<TaskRunner>> runner = TaskRunner::Create(TestOptions(state_dir));
  if (!runner.ok()) abort();
  return *std::move(runner);
}

LaunchSpec ShellTask(const std::string& id, const std::string& script,
                     const std::string& task_dir) {
  LaunchSpec spec;
  spec.task_id = id;
  spec.alloc_id = "alloc";
  spec.task_name = "task";
  spec.command = "/bin/sh";
  spec.args = {"-c", script};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.task_dir = task_dir;
  return spec;
}

absl::StatusOr<ExitResult> WaitExit(TaskRunner& runner, const std::string& id,
                                    absl::Duration timeout) {
  auto done = std::make_shared<absl::Notification>();
  auto result = std::make_shared<absl::StatusOr<ExitResult>>();
  WaitHandle handle = runner.Wait(id, [done, result](absl::StatusOr<ExitResult> r) {
    *result = std::move(r);
    done->Notify();
  });
  if (!done->WaitForNotificationWithTimeout(timeout)) {
    if (runner.CancelWait(handle)) return absl::DeadlineExceededError("task did not exit in time");
    done->WaitForNotification();
  }
  return *result;
}

absl::Status StopAndWait(TaskRunner& runner, const std::string& id, absl::Duration timeout,
                         int signo) {
  auto done = std::make_shared<absl::Notification>();
  auto result = std::make_shared<absl::Status>();
  runner.Stop(id, timeout, signo, [done, result](absl::Status s) {
    *result = s;
    done->Notify();
  });
  done->WaitForNotification();  // bounded by the runner's kill_grace
  return *result;
}

bool WaitForFile(const std::string& path, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (access(path.c_str(), F_OK) != 0) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

bool ProcessAlive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  std::string stat = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

bool WaitForProcessGone(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (ProcessAlive(pid)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

int CountEntries(const std::string& dir) {
  DIR* handle = opendir(dir.c_str());
  if (handle == nullptr) return -1;
  int count = 0;
  while (struct dirent* entry = readdir(handle)) {
    if (std::string(entry->d_name) != "." && std::string(entry->d_name) != "..") ++count;
  }
  closedir(handle);
  return count;
}

int CountOpenFds() { return CountEntries("/proc/self/fd") - 1; }  // minus opendir's own fd

}  // namespace carp_exec::tasks::testing
