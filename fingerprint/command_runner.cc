#include "fingerprint/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "driver/log/hclog.h"
#include "driver/mutex_lock.h"
#include "driver/tasks/spawn_signals.h"
#include "fingerprint/parse_text.h"

namespace carp_exec::fingerprint {
namespace {

// How long output pipes may stay open after the command exited before whatever still holds
// them counts as a stray (and is killed with the group).
constexpr absl::Duration kStrayGrace = absl::Milliseconds(100);
// How long to wait for a SIGKILLed tool to be reaped. A process stuck in the kernel
// (uninterruptible sleep on a hung device or NFS) does not die until the kernel lets it; the
// caller (the single failover worker) must not block for ever on it, so it is left behind as
// a logged leak and reaped later, at the next Run.
constexpr absl::Duration kReapBound = absl::Seconds(2);

std::atomic<uint64_t> spawned{0};

// Children left unreaped by kReapBound; each Run tries to reap them first.
absl::Mutex leaked_mu;
std::vector<pid_t>* Leaked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(leaked_mu) {
  static auto* leaked = new std::vector<pid_t>();
  return leaked;
}

void ReapLeaked() {
  carp_exec::MutexLock lock(leaked_mu);
  std::vector<pid_t>* leaked = Leaked();
  leaked->erase(std::remove_if(leaked->begin(), leaked->end(),
                               [](pid_t pid) {
                                 int status = 0;
                                 const pid_t got = waitpid(pid, &status, WNOHANG);
                                 return got == pid || (got < 0 && errno == ECHILD);
                               }),
                leaked->end());
}

// The only environment a tool sees: a fixed PATH and the C locale, so its output is the format
// the parsers expect whatever the plugin inherited.
constexpr const char* kSearchPath = "/usr/sbin:/usr/bin:/sbin:/bin";
constexpr const char* kEnvironment[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C",
                                        nullptr};

std::string ErrnoText(int error) { return std::strerror(error); }

absl::Status CheckExecutableFile(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) {
    int error = errno;
    std::string text = absl::StrCat(QuoteForMessage(path), ": ", ErrnoText(error));
    return error == ENOENT || error == ENOTDIR ? absl::NotFoundError(text)
                                               : absl::PermissionDeniedError(text);
  }
  if (S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(QuoteForMessage(path), " is a directory"));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(QuoteForMessage(path), " is not a regular file"));
  }
  if (access(path.c_str(), X_OK) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(QuoteForMessage(path), " is not executable: ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

// A bare name is looked up in kSearchPath (not the plugin's PATH), so what runs does not depend
// on how Nomad was started.
absl::StatusOr<std::string> ResolveExecutable(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("command name is empty");
  if (name.find('/') != std::string::npos) {
    absl::Status status = CheckExecutableFile(name);
    if (!status.ok()) return status;
    return name;
  }
  for (absl::string_view dir : absl::StrSplit(kSearchPath, ':')) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (CheckExecutableFile(candidate).ok()) return candidate;
  }
  return absl::NotFoundError(absl::StrCat(QuoteForMessage(name), " not found in ", kSearchPath,
                                          "; give an absolute path"));
}

absl::Duration MonotonicNow() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return absl::DurationFromTimespec(now);
}

// A pipe whose ends are O_CLOEXEC and numbered 3 or above, so that dup2 onto 1 and 2 in the
// child can never clobber the other pipe (possible if the plugin runs with 0-2 closed).
absl::Status MakePipe(int fds[2]) {
  int raw[2];
  if (pipe2(raw, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("pipe: ", ErrnoText(errno)));
  }
  for (int i = 0; i < 2; ++i) {
    if (raw[i] >= 3) {
      fds[i] = raw[i];
      continue;
    }
    fds[i] = fcntl(raw[i], F_DUPFD_CLOEXEC, 3);
    int error = errno;
    close(raw[i]);
    if (fds[i] < 0) {
      if (i == 1) close(fds[0]);
      if (i == 0) close(raw[1]);
      return absl::ResourceExhaustedError(
          absl::StrCat("fcntl(F_DUPFD_CLOEXEC): ", ErrnoText(error)));
    }
  }
  return absl::OkStatus();
}

// Whether the child has terminated. It is left unreaped (WNOWAIT) so its pid, which is also its
// process group id, cannot be reused while we may still signal the group.
enum class ChildState { kRunning, kTerminated, kGone };

ChildState PeekChild(pid_t pid) {
  siginfo_t info{};
  while (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    // ECHILD: already reaped by someone else (SIGCHLD ignored); its pid may be reused already.
    if (errno != EINTR) return ChildState::kGone;
  }
  return info.si_pid == pid ? ChildState::kTerminated : ChildState::kRunning;
}

void KillGroup(pid_t pid) { kill(-pid, SIGKILL); }

}  // namespace

uint64_t ProcessesSpawned() { return spawned.load(std::memory_order_relaxed); }

std::string DescribeCommandResult(const CommandResult& result) {
  std::string text;
  if (result.term_signal > 0) {
    text = absl::StrCat("killed by signal ", result.term_signal);
  } else {
    text = absl::StrCat("exited with status ", result.exit_code);
  }
  if (result.timed_out) absl::StrAppend(&text, " (timed out, killed)");
  if (result.unreaped) absl::StrAppend(&text, " (not reaped: stuck after SIGKILL)");
  absl::string_view err = result.err;
  err = err.substr(0, err.find('\n'));
  if (!err.empty()) absl::StrAppend(&text, ": ", QuoteForMessage(err));
  return text;
}

absl::Status CommandRunner::CheckExecutable(const std::string& path) {
  absl::StatusOr<std::string> resolved = ResolveExecutable(path);
  return resolved.status();
}

absl::StatusOr<CommandResult> SystemCommandRunner::Run(const std::vector<std::string>& argv,
                                                       absl::Duration timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("command is empty");
  ReapLeaked();
  absl::StatusOr<std::string> path = ResolveExecutable(argv[0]);
  if (!path.ok()) return path.status();

  int out_pipe[2], err_pipe[2];
  if (absl::Status s = MakePipe(out_pipe); !s.ok()) return s;
  if (absl::Status s = MakePipe(err_pipe); !s.ok()) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return s;
  }
  int read_fds[2] = {out_pipe[0], err_pipe[0]};
  absl::Cleanup close_read = [&read_fds] {
    for (int& fd : read_fds) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  };

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Descriptors some library opened without O_CLOEXEC must not reach the tool either.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);  // own group: one kill(-pid) reaches its children
  tasks::SetSpawnSignalDefaults(&attr, POSIX_SPAWN_SETPGROUP);

  std::vector<char*> c_argv;
  c_argv.reserve(argv.size() + 1);
  for (const std::string& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  pid_t pid = -1;
  int spawn_error = posix_spawn(&pid, path->c_str(), &actions, &attr, c_argv.data(),
                                const_cast<char* const*>(kEnvironment));
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (spawn_error == 0) spawned.fetch_add(1, std::memory_order_relaxed);
  if (spawn_error != 0) {
    return absl::InternalError(
        absl::StrCat("cannot start ", QuoteForMessage(*path), ": ", ErrnoText(spawn_error)));
  }

  CommandResult result;
  std::string* sinks[2] = {&result.out, &result.err};
  const absl::Duration deadline = MonotonicNow() + timeout;
  bool child_done = false;
  bool strays_killed = false;
  absl::Duration stray_deadline = absl::InfiniteDuration();
  char buffer[65536];
  while (true) {
    if (!child_done) {
      ChildState state = PeekChild(pid);
      if (state == ChildState::kGone) {
        return absl::InternalError(
            absl::StrCat("lost the exit status of ", QuoteForMessage(*path), " (pid ", pid,
                         "): something else reaped it; is SIGCHLD ignored in the plugin?"));
      }
      child_done = state == ChildState::kTerminated;
      if (child_done) stray_deadline = MonotonicNow() + kStrayGrace;
    }
    // The child has exited; whoever still holds our pipes after the grace period is a stray it
    // left behind. The grace matters: the exit is often seen before the EOF that follows it.
    if (child_done && !strays_killed && (read_fds[0] >= 0 || read_fds[1] >= 0) &&
        MonotonicNow() >= stray_deadline) {
      KillGroup(pid);
      strays_killed = true;
    }
    if (child_done && read_fds[0] < 0 && read_fds[1] < 0) break;
    absl::Duration remaining = deadline - MonotonicNow();
    if (remaining <= absl::ZeroDuration()) {
      result.timed_out = true;
      KillGroup(pid);  // the child is not reaped yet, so pid still names our group
      break;
    }
    // Wake at least every 20 ms to notice the child's exit while a stray keeps a pipe open, or
    // a child that closed its output but keeps running.
    int wait_ms = static_cast<int>(
        absl::ToInt64Milliseconds(std::min(remaining, absl::Milliseconds(20))) + 1);
    pollfd fds[2];
    nfds_t count = 0;
    int which[2];
    for (int i = 0; i < 2; ++i) {
      if (read_fds[i] < 0) continue;
      fds[count] = {read_fds[i], POLLIN, 0};
      which[count++] = i;
    }
    int ready = poll(count > 0 ? fds : nullptr, count, wait_ms);
    if (ready < 0 && errno != EINTR) {
      result.timed_out = true;  // cannot wait any more; do not leave the child running
      KillGroup(pid);
      break;
    }
    for (nfds_t j = 0; ready > 0 && j < count; ++j) {
      if (fds[j].revents == 0) continue;
      int i = which[j];
      ssize_t n = read(read_fds[i], buffer, sizeof(buffer));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        close(read_fds[i]);
        read_fds[i] = -1;
        continue;
      }
      std::string& sink = *sinks[i];
      size_t keep =
          std::min(static_cast<size_t>(n), output_cap_ - std::min(output_cap_, sink.size()));
      sink.append(buffer, keep);
      if (keep < static_cast<size_t>(n)) result.output_truncated = true;
    }
  }

  int status = 0;
  const absl::Duration reap_deadline = MonotonicNow() + kReapBound;
  for (;;) {
    const pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) break;
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      return absl::InternalError(absl::StrCat("waitpid(", pid, "): ", ErrnoText(errno)));
    }
    if (MonotonicNow() >= reap_deadline) {
      KillGroup(pid);
      result.timed_out = true;
      result.unreaped = true;
      log::Warn("fingerprint",
                absl::StrCat(QuoteForMessage(*path), " (pid ", pid, ") did not end within ",
                             absl::FormatDuration(kReapBound),
                             " of SIGKILL (stuck in the kernel?); left unreaped so the caller "
                             "does not hang; it is reaped later if it ever ends"));
      carp_exec::MutexLock lock(leaked_mu);
      Leaked()->push_back(pid);
      return result;
    }
    poll(nullptr, 0, 5);
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace carp_exec::fingerprint
