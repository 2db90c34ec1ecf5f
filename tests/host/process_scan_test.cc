#include "tests/host/process_scan.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/host/task_fixture.h"

namespace carp_exec::test_host {
namespace {

bool Contains(const std::vector<pid_t>& pids, pid_t pid) {
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

// Starts `/bin/sh -c script` with MARKER=<marker> in its environment.
pid_t SpawnShell(const std::string& marker, const char* script) {
  const std::string env_entry = absl::StrCat("CARP_SCAN_MARKER=", marker);
  const pid_t pid = fork();
  if (pid == 0) {
    char* const argv[] = {const_cast<char*>("/bin/sh"), const_cast<char*>("-c"),
                          const_cast<char*>(script), nullptr};
    char* const envp[] = {const_cast<char*>(env_entry.c_str()),
                          const_cast<char*>("PATH=/usr/bin:/bin"), nullptr};
    execve("/bin/sh", argv, envp);
    _exit(127);
  }
  return pid;
}

std::vector<pid_t> WaitForMarked(const std::string& marker, size_t count) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::vector<pid_t> found;
  while (absl::Now() < deadline) {
    found = ProcessesWithEnv("CARP_SCAN_MARKER", marker);
    if (found.size() >= count) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return found;
}

TEST(ProcessScanTest, FindsAndKillsProcessesByEnvironment) {
#if !defined(__linux__)
  GTEST_SKIP() << "process scans read /proc";
#endif
  const std::string marker = RandomUuid();
  const pid_t pid = SpawnShell(marker, "exec sleep 1000");
  ASSERT_GT(pid, 0);
  std::vector<pid_t> found = WaitForMarked(marker, 1);
  EXPECT_TRUE(Contains(found, pid));
  EXPECT_TRUE(Contains(ChildProcesses(), pid));
  EXPECT_TRUE(KillProcesses(found, absl::Seconds(10)).empty());
  EXPECT_TRUE(ProcessesWithEnv("CARP_SCAN_MARKER", marker).empty());
  int status = 0;
  EXPECT_NE(waitpid(pid, &status, WNOHANG), 0) << "already reaped or reapable";
}

TEST(ProcessScanTest, SubreaperInheritsOrphansAndReapsThem) {
  if (!BecomeSubreaper()) GTEST_SKIP() << "no subreaper support here";
  const std::string marker = RandomUuid();
  // The shell backgrounds a sleeper and exits: the sleeper is orphaned and becomes ours.
  const pid_t shell = SpawnShell(marker, "sleep 1000 & exit 0");
  int status = 0;
  ASSERT_EQ(waitpid(shell, &status, 0), shell);
  std::vector<pid_t> orphans = WaitForMarked(marker, 1);
  ASSERT_EQ(orphans.size(), 1u);
  EXPECT_TRUE(Contains(ChildProcesses(), orphans[0]));
  EXPECT_EQ(KillAndReapChildren({}, absl::Seconds(10)), 1u);
  EXPECT_TRUE(ChildProcesses().empty());
}

TEST(ProcessScanTest, CountsOwnFdsAndThreads) {
#if !defined(__linux__)
  GTEST_SKIP() << "counts read /proc";
#endif
  const int fds = CountOpenFds(getpid());
  EXPECT_GE(fds, 3);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  EXPECT_EQ(CountOpenFds(getpid()), fds + 2);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  EXPECT_GE(CountThreads(getpid()), 1);
}

}  // namespace
}  // namespace carp_exec::test_host
