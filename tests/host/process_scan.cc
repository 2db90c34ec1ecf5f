#include "tests/host/process_scan.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace carp_exec::test_host {
namespace {

std::vector<pid_t> AllPids() {
  std::vector<pid_t> pids;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return pids;
  while (dirent* entry = readdir(dir)) {
    int pid = 0;
    if (absl::SimpleAtoi(entry->d_name, &pid) && pid > 0) pids.push_back(pid);
  }
  closedir(dir);
  return pids;
}

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Fields of /proc/<pid>/stat after the command name (which may contain spaces).
std::vector<std::string> StatFields(pid_t pid) {
  const std::string stat = ReadWhole(absl::StrCat("/proc/", pid, "/stat"));
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  return absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
}

bool Exists(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

bool IsZombieOrGone(pid_t pid) {
  const std::vector<std::string> fields = StatFields(pid);
  return fields.empty() ? !Exists(pid) : fields[0] == "Z";
}

int CountDirEntries(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

}  // namespace

bool BecomeSubreaper() {
#if defined(__linux__)
  return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
#else
  return false;
#endif
}

std::vector<pid_t> ChildProcesses() {
  std::vector<pid_t> children;
  const std::string self = absl::StrCat(getpid());
  for (pid_t pid : AllPids()) {
    const std::vector<std::string> fields = StatFields(pid);
    if (fields.size() > 1 && fields[1] == self) children.push_back(pid);
  }
  return children;
}

std::vector<pid_t> ProcessesWithEnv(absl::string_view name, absl::string_view value) {
  const std::string wanted = absl::StrCat(name, "=", value);
  std::vector<pid_t> found;
  for (pid_t pid : AllPids()) {
    if (pid == getpid()) continue;
    const std::string environ = ReadWhole(absl::StrCat("/proc/", pid, "/environ"));
    for (absl::string_view entry : absl::StrSplit(environ, '\0')) {
      if (entry == wanted) {
        if (!IsZombieOrGone(pid)) found.push_back(pid);
        break;
      }
    }
  }
  return found;
}

std::vector<pid_t> ProcessesWithCmdline(absl::string_view needle) {
  std::vector<pid_t> found;
  for (pid_t pid : AllPids()) {
    if (pid == getpid()) continue;
    std::string cmdline = ReadWhole(absl::StrCat("/proc/", pid, "/cmdline"));
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (absl::StrContains(cmdline, needle) && !IsZombieOrGone(pid)) found.push_back(pid);
  }
  return found;
}

std::vector<pid_t> KillProcesses(absl::Span<const pid_t> pids, absl::Duration timeout) {
  for (pid_t pid : pids) kill(pid, SIGKILL);
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<pid_t> left(pids.begin(), pids.end());
  while (!left.empty()) {
    std::vector<pid_t> still;
    for (pid_t pid : left) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) continue;  // our child, now reaped
      if (!IsZombieOrGone(pid)) still.push_back(pid);
    }
    left.swap(still);
    if (left.empty() || absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return left;
}

size_t KillAndReapChildren(absl::Span<const pid_t> keep, absl::Duration timeout) {
  std::vector<pid_t> victims;
  for (pid_t pid : ChildProcesses()) {
    if (std::find(keep.begin(), keep.end(), pid) == keep.end()) victims.push_back(pid);
  }
  KillProcesses(victims, timeout);
  // Zombies of killed children are reaped here; the kept ones are left alone.
  for (pid_t pid : victims) {
    int status = 0;
    waitpid(pid, &status, WNOHANG);
  }
  return victims.size();
}

size_t ReapExitedChildren(absl::Span<const pid_t> keep) {
  size_t reaped = 0;
  for (pid_t pid : ChildProcesses()) {
    if (std::find(keep.begin(), keep.end(), pid) != keep.end()) continue;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) ++reaped;
  }
  return reaped;
}

int CountOpenFds(pid_t pid) { return CountDirEntries(absl::StrCat("/proc/", pid, "/fd")); }

int CountThreads(pid_t pid) { return CountDirEntries(absl::StrCat("/proc/", pid, "/task")); }

std::string DescribeProcess(pid_t pid) {
  std::string comm = ReadWhole(absl::StrCat("/proc/", pid, "/comm"));
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  std::string cmdline = ReadWhole(absl::StrCat("/proc/", pid, "/cmdline"));
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  return absl::StrCat(pid, " (", comm, ": ", cmdline, ")");
}

}  // namespace carp_exec::test_host
