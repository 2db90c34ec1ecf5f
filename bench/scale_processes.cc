#include "bench/scale_processes.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace carp_exec::bench {
namespace {

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

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

// Fields of /proc/<pid>/stat after "(comm) ": [0] state, [1] ppid, [2] pgrp, ... [11] utime,
// [12] stime.
std::vector<std::string> StatFields(pid_t pid) {
  const std::string stat = ReadWhole(absl::StrCat("/proc/", pid, "/stat"));
  const size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 > stat.size()) return {};
  return absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
}

long ReadLong(const std::string& path) {
  long value = -1;
  std::string text = ReadWhole(path);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (!absl::SimpleAtoi(text, &value)) return -1;
  return value;
}

std::string LimitText(rlim_t value) {
  return value == RLIM_INFINITY ? std::string("unlimited") : absl::StrCat(value);
}

}  // namespace

std::string RaiseLimits(long wanted_fds, long wanted_processes) {
  std::string out;
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  absl::StrAppend(&out, "  RLIMIT_NOFILE soft ", LimitText(files.rlim_cur), " hard ",
                  LimitText(files.rlim_max), ", wanted >= ", wanted_fds);
  if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < static_cast<rlim_t>(wanted_fds)) {
    rlimit raised = files;
    raised.rlim_cur = static_cast<rlim_t>(wanted_fds);
    if (raised.rlim_max != RLIM_INFINITY && raised.rlim_max < raised.rlim_cur) {
      raised.rlim_max = raised.rlim_cur;  // allowed for root (CAP_SYS_RESOURCE) up to nr_open
    }
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      absl::StrAppend(&out, " -> raised to ", LimitText(raised.rlim_cur), " (hard ",
                      LimitText(raised.rlim_max), ")");
    } else {
      absl::StrAppend(&out, " -> cannot raise (", strerror(errno), "); kept");
    }
  } else {
    absl::StrAppend(&out, " -> enough");
  }
  absl::StrAppend(&out, "\n");
  rlimit procs{};
  getrlimit(RLIMIT_NPROC, &procs);
  absl::StrAppend(&out, "  RLIMIT_NPROC (ulimit -u) soft ", LimitText(procs.rlim_cur), " hard ",
                  LimitText(procs.rlim_max), ", wanted >= ", wanted_processes,
                  geteuid() == 0 ? " (root is exempt)" : "",
                  procs.rlim_cur == RLIM_INFINITY ||
                          procs.rlim_cur >= static_cast<rlim_t>(wanted_processes) || geteuid() == 0
                      ? " -> enough"
                      : " -> TOO LOW: raise `ulimit -u`",
                  "\n");
  const long pid_max = ReadLong("/proc/sys/kernel/pid_max");
  const long threads_max = ReadLong("/proc/sys/kernel/threads-max");
  const long running = static_cast<long>(AllPids().size());
  absl::StrAppend(
      &out, "  kernel.pid_max ", pid_max, ", kernel.threads-max ", threads_max, ", processes now ",
      running, ", + wanted ", wanted_processes,
      pid_max > 0 && pid_max < running + wanted_processes ? " -> TOO LOW" : " -> enough", "\n");
  return out;
}

Swarm FindSwarm(const std::string& state_dir) {
  Swarm swarm;
  const std::string prefix = absl::StrCat(state_dir, "/tasks/");
  std::vector<std::pair<pid_t, SwarmProcess>> others;
  absl::flat_hash_set<pid_t> supervisor_pids;
  for (pid_t pid : AllPids()) {
    const std::vector<std::string> fields = StatFields(pid);
    if (fields.size() < 3 || fields[0] == "Z") continue;
    SwarmProcess process{pid, 0, 0};
    (void)absl::SimpleAtoi(fields[1], &process.ppid);
    (void)absl::SimpleAtoi(fields[2], &process.pgid);
    const std::string cmdline = ReadWhole(absl::StrCat("/proc/", pid, "/cmdline"));
    const std::vector<absl::string_view> argv = absl::StrSplit(cmdline, '\0');
    if (argv.size() >= 3 && argv[1] == "supervise" && absl::StartsWith(argv[2], prefix)) {
      swarm.supervisors.push_back(process);
      supervisor_pids.insert(pid);
    } else {
      others.emplace_back(process.ppid, process);
    }
  }
  for (const auto& [ppid, process] : others) {
    if (supervisor_pids.contains(ppid)) swarm.tasks.push_back(process);
  }
  return swarm;
}

std::vector<pid_t> ProcessesWithEnvEntry(const std::string& name, const std::string& value) {
  const std::string wanted = absl::StrCat(name, "=", value);
  std::vector<pid_t> found;
  for (pid_t pid : AllPids()) {
    if (pid == getpid()) continue;
    const std::string environ = ReadWhole(absl::StrCat("/proc/", pid, "/environ"));
    for (absl::string_view entry : absl::StrSplit(environ, '\0')) {
      if (entry == wanted) {
        const std::vector<std::string> fields = StatFields(pid);
        if (!fields.empty() && fields[0] != "Z") found.push_back(pid);
        break;
      }
    }
  }
  return found;
}

int KillSwarm(const std::string& state_dir, const std::string& marker_name,
              const std::string& marker_value) {
  int signalled = 0;
  const Swarm swarm = FindSwarm(state_dir);
  // Tasks (and their groups) first, so a supervisor killed meanwhile leaves no orphan behind.
  for (const SwarmProcess& task : swarm.tasks) {
    if (task.pgid == task.pid) kill(-task.pgid, SIGKILL);
    signalled += kill(task.pid, SIGKILL) == 0;
  }
  for (pid_t pid : ProcessesWithEnvEntry(marker_name, marker_value)) {
    signalled += kill(pid, SIGKILL) == 0;
  }
  for (const SwarmProcess& supervisor : swarm.supervisors) {
    signalled += kill(supervisor.pid, SIGKILL) == 0;
  }
  return signalled;
}

absl::Duration ProcessCpuTime(pid_t pid) {
  const std::vector<std::string> fields = StatFields(pid);
  long utime = 0;
  long stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::Seconds(-1);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  return absl::Seconds(1) * static_cast<double>(utime + stime) / static_cast<double>(ticks);
}

int CountDirectoryEntries(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = readdir(dir)) count += entry->d_name[0] != '.';
  closedir(dir);
  return count;
}

PeakThreads::PeakThreads(pid_t pid) : pid_(pid), thread_([this] { Run(); }) {}

PeakThreads::~PeakThreads() {
  stop_ = true;
  thread_.join();
}

void PeakThreads::Run() {
  while (!stop_.load()) {
    const int now = CountDirectoryEntries(absl::StrCat("/proc/", pid_, "/task"));
    long seen = peak_.load();
    while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
    }
    usleep(50 * 1000);
  }
}

int CountFds(pid_t pid) {
  DIR* dir = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = readdir(dir)) count += entry->d_name[0] != '.';
  closedir(dir);
  return count;
}

OrphanReaper::OrphanReaper(pid_t keep) : keep_(keep), thread_([this] { Run(); }) {}

OrphanReaper::~OrphanReaper() {
  stop_ = true;
  thread_.join();
}

void OrphanReaper::Run() {
  while (!stop_.load()) {
    // Peek first: waitpid(-1) could collect the plugin, whose status PluginProcess owns.
    siginfo_t info{};
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0 &&
        info.si_pid != keep_) {
      int status = 0;
      if (waitpid(info.si_pid, &status, WNOHANG) == info.si_pid) ++reaped_;
      continue;
    }
    if (info.si_pid == keep_) {
      // The plugin is the one waiting; reap the others by name.
      const std::string self = absl::StrCat(getpid());
      for (pid_t pid : AllPids()) {
        const std::vector<std::string> fields = StatFields(pid);
        if (pid == keep_ || fields.size() < 2 || fields[1] != self || fields[0] != "Z") continue;
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) ++reaped_;
      }
    }
    usleep(100 * 1000);
  }
}

#if defined(__linux__)
FifoDrain::FifoDrain()
    : epoll_fd_(epoll_create1(EPOLL_CLOEXEC)),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      thread_([this] { Run(); }) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = wake_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event);
}

FifoDrain::~FifoDrain() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  thread_.join();
  for (int fd : fds_) close(fd);
  close(wake_fd_);
  close(epoll_fd_);
}

absl::Status FifoDrain::Add(const std::string& fifo_path) {
  if (mkfifo(fifo_path.c_str(), 0600) != 0) {
    return absl::InternalError(absl::StrCat("mkfifo ", fifo_path, ": ", strerror(errno)));
  }
  const int read_fd = open(fifo_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (read_fd < 0) {
    return absl::InternalError(absl::StrCat("open ", fifo_path, ": ", strerror(errno)));
  }
  const int keep_fd = open(fifo_path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (keep_fd < 0) {
    close(read_fd);
    return absl::InternalError(absl::StrCat("open ", fifo_path, " for writing: ", strerror(errno),
                                            " (raise RLIMIT_NOFILE)"));
  }
  fds_.push_back(read_fd);
  fds_.push_back(keep_fd);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = read_fd;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, read_fd, &event);
  ++fifos_;
  return absl::OkStatus();
}

void FifoDrain::Run() {
  epoll_event events[64];
  char buf[4096];
  while (true) {
    const int n = epoll_wait(epoll_fd_, events, 64, -1);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == wake_fd_) return;
      ssize_t got;
      while ((got = read(events[i].data.fd, buf, sizeof(buf))) > 0) bytes_ += got;
    }
  }
}
#else
FifoDrain::FifoDrain() = default;
FifoDrain::~FifoDrain() = default;
absl::Status FifoDrain::Add(const std::string&) {
  return absl::UnimplementedError("FifoDrain needs Linux epoll; use --logs-disabled");
}
void FifoDrain::Run() {}
#endif

}  // namespace carp_exec::bench
