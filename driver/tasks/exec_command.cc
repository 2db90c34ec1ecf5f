#include "driver/tasks/exec_command.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "driver/tasks/network_namespace.h"
#include "driver/tasks/path_beneath.h"
#include "driver/tasks/spawn_signals.h"

namespace carp_exec::tasks {
namespace {

constexpr char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// What the child reports through the error pipe when a step before exec fails.
enum class ChildStep : int {
  kSetsid = 1,
  kControllingTty,
  kStdio,
  kChdir,
  kSetgroups,
  kSetgid,
  kSetuid,
  kExec,
  kNetns,
};
struct ChildFailure {
  int step;
  int error;
};

const char* StepName(int step) {
  switch (static_cast<ChildStep>(step)) {
    case ChildStep::kSetsid:
      return "setsid";
    case ChildStep::kControllingTty:
      return "make the pty the controlling terminal";
    case ChildStep::kStdio:
      return "set up stdin/stdout/stderr";
    case ChildStep::kChdir:
      return "chdir to the work dir";
    case ChildStep::kSetgroups:
      return "setgroups";
    case ChildStep::kSetgid:
      return "setgid";
    case ChildStep::kSetuid:
      return "setuid";
    case ChildStep::kExec:
      return "execve";
    case ChildStep::kNetns:
      return "join the task's network namespace";
  }
  return "prepare";
}

// A candidate for the program: a host path (absolute) is stat'ed as is; a relative one is
// looked up beneath the work dir (path_beneath.h), where the child's execve would find it.
absl::StatusOr<std::string> Probe(const std::string& candidate, const std::string& work_dir,
                                  absl::string_view name) {
  struct stat st;
  std::string path = candidate;
  if (candidate[0] == '/') {
    if (stat(candidate.c_str(), &st) != 0) return absl::NotFoundError(candidate);
  } else {
    absl::StatusOr<BeneathEntry> entry =
        StatBeneath(work_dir, candidate, absl::StrCat("exec: command \"", name, "\""));
    if (!entry.ok()) return entry.status();
    path = entry->path;
    st = entry->st;
  }
  if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) return absl::NotFoundError(path);
  return path;
}

absl::StatusOr<std::string> ResolveProgram(const ExecCommand& command) {
  const std::string& name = command.argv[0];
  const bool relative_lookups = !command.work_dir.empty();
  if (name.find('/') != std::string::npos) {
    if (name[0] == '/') return name;
    if (!relative_lookups) {
      return absl::InvalidArgumentError(
          absl::StrCat("exec: relative command \"", name,
                       "\" needs the task's work dir, which is unset; "
                       "give an absolute path"));
    }
    absl::StatusOr<std::string> found = Probe(name, command.work_dir, name);
    if (found.ok() || !absl::IsNotFound(found.status())) return found;
    return absl::NotFoundError(absl::StrCat("exec: command \"", name, "\" not found under \"",
                                            command.work_dir,
                                            "\" (or not executable); give an absolute path"));
  }
  auto it = command.env.find("PATH");
  const std::string path = it != command.env.end() ? it->second : kDefaultPath;
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    // POSIX: an empty entry is the current directory, which for the command is its work dir
    // (never the plugin's own cwd); relative entries are beneath it.
    if (dir.empty()) dir = ".";
    if (dir[0] != '/' && !relative_lookups) continue;
    absl::StatusOr<std::string> found = Probe(absl::StrCat(dir, "/", name), command.work_dir, name);
    if (found.ok()) return found;
    if (!absl::IsNotFound(found.status())) return found.status();  // e.g. leads outside
  }
  return absl::NotFoundError(absl::StrCat("exec: command \"", name, "\" not found in PATH=\"", path,
                                          "\"; give an absolute path or fix the task's PATH"));
}

// Writes the failure and exits; only async-signal-safe calls.
[[noreturn]] void ChildFail(int error_fd, ChildStep step) {
  ChildFailure failure{static_cast<int>(step), errno};
  ssize_t ignored = write(error_fd, &failure, sizeof(failure));
  (void)ignored;
  _exit(127);
}

}  // namespace

int NomadExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

int TerminatingSignal(int wait_status) {
  return WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
}

absl::StatusOr<pid_t> SpawnInNewSession(const ExecCommand& command, const ChildStdio& stdio) {
  if (command.argv.empty() || command.argv[0].empty()) {
    return absl::InvalidArgumentError(
        "exec: the command is empty; send at least the program name, e.g. [\"/bin/sh\", \"-c\", "
        "\"...\"]");
  }
  if (stdio.stdin_fd < 0 || stdio.stdout_fd < 0 || stdio.stderr_fd < 0) {
    return absl::InvalidArgumentError("exec: stdin, stdout and stderr fds must all be open");
  }
  absl::StatusOr<std::string> program = ResolveProgram(command);
  if (!program.ok()) return program.status();

  // Changing identity needs root; as another user we can only run as ourselves.
  bool change_identity = false;
  if (command.user.has_value()) {
    const ExecIdentity& user = *command.user;
    if (geteuid() == 0) {
      change_identity = true;
    } else if (user.uid != geteuid() || user.gid != getegid()) {
      return absl::PermissionDeniedError(
          absl::StrCat("exec: cannot run \"", command.argv[0], "\" as uid ", user.uid, " gid ",
                       user.gid, ": the plugin runs as uid ", geteuid(),
                       " and is not root; run the Nomad client as root "
                       "or leave the task's user empty"));
    }
  }

  // Everything the child needs is built now: it must not allocate after fork().
  std::vector<char*> argv;
  argv.reserve(command.argv.size() + 1);
  for (const std::string& arg : command.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  env_strings.reserve(command.env.size());
  for (const auto& [key, value] : command.env) env_strings.push_back(absl::StrCat(key, "=", value));
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const char* work_dir = command.work_dir.empty() ? nullptr : command.work_dir.c_str();
  const std::vector<gid_t> groups =
      command.user.has_value() ? command.user->groups : std::vector<gid_t>();
  const uid_t uid = command.user.has_value() ? command.user->uid : 0;
  const gid_t gid = command.user.has_value() ? command.user->gid : 0;

  // Opened before fork; the child joins it before it drops privileges (setns needs root).
  absl::StatusOr<int> netns = OpenNetworkNamespace(command.netns_path);
  if (!netns.ok()) return netns.status();
  const int netns_fd = *netns;
  absl::Cleanup close_netns = [netns_fd] {
    if (netns_fd >= 0) close(netns_fd);
  };

  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("exec: cannot create a pipe: ", std::strerror(errno)));
  }

  // Block every signal across fork so no handler of the plugin runs in the child before the
  // dispositions are reset; the parent restores its mask right after.
  sigset_t all_signals, previous_mask;
  sigfillset(&all_signals);
  pthread_sigmask(SIG_SETMASK, &all_signals, &previous_mask);
  const pid_t pid = fork();
  if (pid == 0) {
    int error_fd = error_pipe[1];
    if (error_fd <= 2) {  // only if the plugin runs with 0..2 closed
      error_fd = fcntl(error_fd, F_DUPFD_CLOEXEC, 3);
      if (error_fd < 0) _exit(127);
    }
    struct sigaction default_action;
    std::memset(&default_action, 0, sizeof(default_action));
    default_action.sa_handler = SIG_DFL;
    const sigset_t defaults = SpawnDefaultSignals();  // async-signal-safe calls only
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sigismember(&defaults, sig) == 1) sigaction(sig, &default_action, nullptr);
    }
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, nullptr);

    if (JoinNetworkNamespaceFd(netns_fd) != 0) ChildFail(error_fd, ChildStep::kNetns);
    if (setsid() < 0) ChildFail(error_fd, ChildStep::kSetsid);
    if (stdio.controlling_tty >= 0 && ioctl(stdio.controlling_tty, TIOCSCTTY, 0) != 0) {
      ChildFail(error_fd, ChildStep::kControllingTty);
    }
    // Move the sources above 2 first, so dup2 onto 0..2 cannot clobber one still needed.
    int fds[3] = {stdio.stdin_fd, stdio.stdout_fd, stdio.stderr_fd};
    for (int& fd : fds) {
      if (fd <= 2) {
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) ChildFail(error_fd, ChildStep::kStdio);
      }
    }
    for (int target = 0; target < 3; ++target) {
      if (dup2(fds[target], target) < 0) ChildFail(error_fd, ChildStep::kStdio);
    }
    // Keep only 0..2 and the error pipe (moved to 3, close-on-exec).
    int report_fd = error_fd;
    if (error_fd != 3) {
      if (dup2(error_fd, 3) < 0) ChildFail(error_fd, ChildStep::kStdio);
      report_fd = 3;
    }
    fcntl(report_fd, F_SETFD, FD_CLOEXEC);
    closefrom(4);

    if (change_identity) {
      if (setgroups(groups.size(), groups.data()) != 0) {
        ChildFail(report_fd, ChildStep::kSetgroups);
      }
      if (setgid(gid) != 0) ChildFail(report_fd, ChildStep::kSetgid);
      if (setuid(uid) != 0) ChildFail(report_fd, ChildStep::kSetuid);
    }
    // After the switch, like Go's os/exec (syscall/exec_linux.go: credentials, then Chdir):
    // the work dir is entered with the user's rights, not root's.
    if (work_dir != nullptr && chdir(work_dir) != 0) ChildFail(report_fd, ChildStep::kChdir);
    execve(program->c_str(), argv.data(), envp.data());
    ChildFail(report_fd, ChildStep::kExec);
  }
  const int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  close(error_pipe[1]);
  if (pid < 0) {
    close(error_pipe[0]);
    return absl::ResourceExhaustedError(absl::StrCat("exec: fork failed for \"", command.argv[0],
                                                     "\": ", std::strerror(fork_errno)));
  }

  // EOF without data means execve succeeded (the pipe closed on exec).
  ChildFailure failure{0, 0};
  size_t got = 0;
  while (got < sizeof(failure)) {
    const ssize_t n =
        read(error_pipe[0], reinterpret_cast<char*>(&failure) + got, sizeof(failure) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(error_pipe[0]);
  if (got == 0) return pid;

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const std::string detail = got == sizeof(failure) ? absl::StrCat(StepName(failure.step), ": ",
                                                                   std::strerror(failure.error))
                                                    : "the child failed before exec";
  std::string message =
      absl::StrCat("exec: cannot start \"", absl::StrJoin(command.argv, " "), "\": ", detail);
  if (failure.step == static_cast<int>(ChildStep::kChdir)) {
    absl::StrAppend(&message, " (work dir \"", command.work_dir, "\")");
  }
  if (failure.error == ENOENT || failure.error == ENOTDIR) return absl::NotFoundError(message);
  if (failure.error == EACCES || failure.error == EPERM) {
    return absl::PermissionDeniedError(message);
  }
  return absl::FailedPreconditionError(message);
}

}  // namespace carp_exec::tasks
