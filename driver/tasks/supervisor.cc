#include "driver/tasks/supervisor.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "carp_exec/driver_state.pb.h"
#include "driver/tasks/fd_closing.h"
#include "driver/tasks/network_namespace.h"
#include "driver/tasks/process_identity.h"
#include "driver/tasks/spawn_signals.h"
#include "driver/tasks/state_dir.h"

namespace carp_exec::tasks {
namespace {

constexpr int kReportFd = 3;  // the plugin's start-report pipe
constexpr size_t kMaxConnections = 256;
constexpr size_t kMaxRequestLine = 128;

int g_wake_write = -1;  // self-pipe written by signal handlers
volatile sig_atomic_t g_term_requested = 0;

void OnSignal(int signo) {
  int saved = errno;
  if (signo == SIGTERM) g_term_requested = 1;
  char byte = 0;
  (void)!write(g_wake_write, &byte, 1);
  errno = saved;
}

void Log(const char* format, ...) {
  char line[512];
  va_list args;
  va_start(args, format);
  vsnprintf(line, sizeof(line), format, args);
  va_end(args);
  std::string out =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()),
                   " carp_exec supervisor[", getpid(), "]: ", line, "\n");
  (void)!write(STDERR_FILENO, out.data(), out.size());
}

// What the task child tells the supervisor through the CLOEXEC pipe when it cannot exec.
struct ChildFailure {
  int stage;
  int error_number;
};
enum Stage { kOpenStdout = 1, kOpenStderr, kRedirect, kChdir, kCredentials, kExec, kOomScoreAdj };

[[noreturn]] void ChildFail(int pipe_fd, Stage stage) {
  ChildFailure failure{stage, errno};
  (void)!write(pipe_fd, &failure, sizeof(failure));
  _exit(127);
}

// Task output goes only to Nomad's log FIFOs (made with mkfifo 0600 by the client's logmon,
// hashicorp/nomad client/lib/fifo/fifo_unix.go) or /dev/null when logs are disabled. This runs
// as root, on a path in the alloc dir, which tasks can write: O_NOFOLLOW and the type check
// make sure a symlink or file planted there never becomes root appending task output to it.
// Async-signal-safe (runs in the forked child). Sets errno to ELOOP for a symlink and EINVAL
// for anything that is not a FIFO.
int OpenOutput(const std::string& path) {
  // A FIFO opened for writing blocks until a reader exists; O_NONBLOCK turns that into ENXIO.
  int fd = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == EMLINK) errno = ELOOP;  // FreeBSD's O_NOFOLLOW error
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) return -1;
  const bool dev_null = strcmp(path.c_str(), "/dev/null") == 0 && S_ISCHR(st.st_mode);
  if (!S_ISFIFO(st.st_mode) && !dev_null) {
    close(fd);
    errno = EINVAL;
    return -1;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) return -1;
  return fd;
}

// Linux: the task's OOM-killer preference, set while the child is still privileged (lowering
// the value needs CAP_SYS_RESOURCE). The default 0 is written too, so a task does not inherit
// the agent's own adjustment (often -1000); failing to write it is fatal only when the job
// asked for a value. `text` is the decimal value, formatted before the fork.
void SetOomScoreAdj(const state::LaunchSpec& spec, const std::string& text, int failure_pipe) {
#if defined(__linux__)
  const int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  const bool written =
      fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (fd >= 0) close(fd);
  if (!written && spec.oom_score_adj() != 0) ChildFail(failure_pipe, kOomScoreAdj);
#else
  (void)spec;
  (void)text;
  (void)failure_pipe;
#endif
}

// Runs in the forked child: only async-signal-safe calls on data prepared before the fork.
[[noreturn]] void ExecTask(const state::LaunchSpec& spec, char* const* argv, char* const* envp,
                           const std::vector<gid_t>& groups, const std::string& oom_score_adj,
                           int failure_pipe) {
  setpgid(0, 0);
  // sigemptyset/sigaddset/sigismember are async-signal-safe.
  const sigset_t defaults = SpawnDefaultSignals();
  for (int signo = 1; signo < NSIG; ++signo) {
    if (sigismember(&defaults, signo) == 1) signal(signo, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int out = OpenOutput(spec.stdout_path());
  if (out < 0) ChildFail(failure_pipe, kOpenStdout);
  int err = OpenOutput(spec.stderr_path());
  if (err < 0) ChildFail(failure_pipe, kOpenStderr);
  if (dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0) {
    ChildFail(failure_pipe, kRedirect);
  }
  SetOomScoreAdj(spec, oom_score_adj, failure_pipe);
  if (spec.has_credentials()) {
    const state::Credentials& c = spec.credentials();
    bool already = geteuid() == c.uid() && getegid() == c.gid();
    if (!already) {
      if (setgroups(groups.size(), groups.data()) != 0 || setgid(c.gid()) != 0 ||
          setuid(c.uid()) != 0) {
        ChildFail(failure_pipe, kCredentials);
      }
    }
  }
  // After the switch, with the task user's rights (like Go's os/exec, syscall/exec_linux.go):
  // root never enters a directory the job named on the user's behalf.
  if (chdir(spec.work_dir().c_str()) != 0) ChildFail(failure_pipe, kChdir);
  CloseAllExcept(STDERR_FILENO + 1, failure_pipe);
  execve(spec.command().c_str(), argv, envp);
  ChildFail(failure_pipe, kExec);
}

std::string DescribeFailure(const state::LaunchSpec& spec, const ChildFailure& failure) {
  const char* why = strerror(failure.error_number);
  switch (failure.stage) {
    case kOpenStdout:
    case kOpenStderr: {
      const std::string& path =
          failure.stage == kOpenStdout ? spec.stdout_path() : spec.stderr_path();
      const char* which = failure.stage == kOpenStdout ? "stdout" : "stderr";
      if (failure.error_number == ELOOP || failure.error_number == EINVAL) {
        return absl::StrCat(which, " \"", path, "\" is ",
                            failure.error_number == ELOOP ? "a symlink" : "not a FIFO",
                            "; carp_exec writes task output only to Nomad's log FIFOs (or "
                            "/dev/null) and never through a link: remove it and restart the task");
      }
      if (failure.error_number == ENXIO) {
        return absl::StrCat(which, " FIFO \"", path,
                            "\" has no reader yet (Nomad's log collector is not running); "
                            "retry the task");
      }
      return absl::StrCat("cannot open ", which, " \"", path, "\": ", why);
    }
    case kRedirect:
      return absl::StrCat("cannot redirect the task's output: ", why);
    case kChdir:
      return absl::StrCat("cannot change to work_dir \"", spec.work_dir(), "\": ", why,
                          "; create it or fix work_dir");
    case kCredentials:
      return absl::StrCat("cannot switch to user \"", spec.credentials().name(), "\" (uid ",
                          spec.credentials().uid(), "): ", why,
                          "; the plugin must run as root to change users");
    case kOomScoreAdj:
      return absl::StrCat("cannot set oom_score_adj = ", spec.oom_score_adj(),
                          " (/proc/self/oom_score_adj): ", why,
                          "; the plugin must run as root to lower it");
    case kExec:
      if (failure.error_number == ENOENT) {
        return absl::StrCat("no such command \"", spec.command(),
                            "\" (or its #! interpreter is missing)");
      }
      if (failure.error_number == EACCES) {
        return absl::StrCat("permission denied executing \"", spec.command(),
                            "\"; check its mode and the directories above it");
      }
      return absl::StrCat("cannot execute \"", spec.command(), "\": ", why);
  }
  return absl::StrCat("task start failed: ", why);
}

const char* StageName(int stage) {
  switch (stage) {
    case kOpenStdout:
      return "open stdout";
    case kOpenStderr:
      return "open stderr";
    case kRedirect:
      return "redirect";
    case kChdir:
      return "chdir";
    case kCredentials:
      return "credentials";
    case kExec:
      return "exec";
    case kOomScoreAdj:
      return "oom_score_adj";
    default:
      return "supervisor";
  }
}

void SendReport(int report_fd, const state::StartReport& report) {
  if (report_fd < 0) return;
  std::string data = report.SerializeAsString();
  absl::string_view pending = data;
  while (!pending.empty()) {
    ssize_t n = write(report_fd, pending.data(), pending.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the plugin gave up waiting; the task still runs
    pending.remove_prefix(static_cast<size_t>(n));
  }
}

int FailStart(int report_fd, absl::string_view stage, absl::string_view error, int error_number) {
  Log("cannot start the task (%s): %s", std::string(stage).c_str(), std::string(error).c_str());
  state::StartReport report;
  report.set_started(false);
  report.set_stage(std::string(stage));
  report.set_error(std::string(error));
  report.set_error_errno(error_number);
  SendReport(report_fd, report);
  return 1;
}

int Listen(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(addr.sun_path, path.data(), path.size());
  unlink(path.c_str());  // a socket left by an earlier supervisor of this dir
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

struct Connection {
  int fd;
  std::string pending;
};

// Answers one request line; returns the reply line (without "\n").
std::string Answer(absl::string_view request, pid_t task_pgid) {
  if (request == "status") return absl::StrCat("running ", task_pgid);
  int signo = 0;
  if (absl::ConsumePrefix(&request, "signal ") && absl::SimpleAtoi(request, &signo) && signo > 0 &&
      signo < NSIG) {
    if (kill(-task_pgid, signo) != 0) return absl::StrCat("error ", strerror(errno));
    return "ok";
  }
  return "error unknown request; use \"signal <n>\" or \"status\"";
}

// Reads what a connection sent and answers complete lines. False ⇒ close it.
bool Serve(Connection& conn, pid_t task_pgid) {
  char buf[256];
  ssize_t n = read(conn.fd, buf, sizeof(buf));
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  conn.pending.append(buf, static_cast<size_t>(n));
  size_t newline;
  while ((newline = conn.pending.find('\n')) != std::string::npos) {
    std::string reply = Answer(absl::string_view(conn.pending).substr(0, newline), task_pgid);
    conn.pending.erase(0, newline + 1);
    reply.push_back('\n');
    // Replies are a few bytes; a client that cannot take them is dropped rather than waited on.
    if (send(conn.fd, reply.data(), reply.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(reply.size())) {
      return false;
    }
  }
  return conn.pending.size() <= kMaxRequestLine;
}

state::ExitRecord ExitRecordOf(int wait_status) {
  state::ExitRecord record;
  if (WIFSIGNALED(wait_status)) {
    record.set_signal(WTERMSIG(wait_status));
    record.set_exit_code(128 + WTERMSIG(wait_status));
  } else {
    record.set_exit_code(WEXITSTATUS(wait_status));
  }
  record.set_completed_at_unix_nanos(absl::ToUnixNanos(absl::Now()));
  return record;
}

// Returns the wait status once `task` exited, after killing the rest of its process group.
std::optional<int> ReapIfExited(pid_t task) {
#ifdef WNOWAIT
  // Peek without reaping: while the zombie exists its pid (and so the group id) cannot be
  // reused, so the group kill below cannot hit an unrelated process.
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(task), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
      info.si_pid != task) {
    return std::nullopt;
  }
  kill(-task, SIGKILL);
  int status = 0;
  while (waitpid(task, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
#else
  int status = 0;
  if (waitpid(task, &status, WNOHANG) != task) return std::nullopt;
  kill(-task, SIGKILL);
  return status;
#endif
}

// The alloc's group network namespace (bridge mode), joined by the supervisor itself before it
// forks the task: it has no thread, so the task inherits it (network_namespace.h). Its own
// socket is a path in the file system, which a network namespace does not scope.
absl::Status JoinTaskNetwork(const state::LaunchSpec& spec, int* error_number) {
  absl::Status joined = JoinNetworkNamespace(spec.netns_path(), error_number);
  if (joined.ok() && !spec.netns_path().empty()) {
    Log("joined network namespace %s", spec.netns_path().c_str());
  }
  return joined;
}

}  // namespace

int RunSupervisor(int argc, char** argv) {
  if (argc != 3 || strcmp(argv[1], "supervise") != 0) {
    fprintf(stderr, "usage: %s supervise <task-state-dir>\n", argc > 0 ? argv[0] : "carp_exec");
    return 2;
  }
  const std::string dir = argv[2];
  int report_fd = fcntl(kReportFd, F_GETFD) >= 0 ? kReportFd : -1;
  if (report_fd >= 0) fcntl(report_fd, F_SETFD, FD_CLOEXEC);
  CloseAllExcept(kReportFd + 1, -1);
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  setsid();
  // Detach: the plugin reaps this first process at once; the supervisor proper is inherited by
  // init, so it never becomes a zombie of a plugin that is gone.
  pid_t detached = fork();
  if (detached < 0) return FailStart(report_fd, "fork supervisor", strerror(errno), errno);
  if (detached > 0) _exit(0);

  state::LaunchSpec spec;
  std::string spec_path = absl::StrCat(dir, "/", kSpecFile);
  if (absl::Status read = ReadMessage(spec_path, &spec); !read.ok()) {
    return FailStart(report_fd, "read spec", read.message(), 0);
  }
  int wake[2];
  if (pipe(wake) != 0) return FailStart(report_fd, "pipe", strerror(errno), errno);
  for (int fd : wake) fcntl(fd, F_SETFD, FD_CLOEXEC), fcntl(fd, F_SETFL, O_NONBLOCK);
  g_wake_write = wake[1];
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  std::string sock_path = absl::StrCat(dir, "/", kSocketFile);
  int listener = Listen(sock_path);
  if (listener < 0) {
    return FailStart(report_fd, "listen",
                     absl::StrCat("cannot listen on \"", sock_path, "\": ", strerror(errno)),
                     errno);
  }

  // Everything the child needs is built before fork: it may only make async-signal-safe calls.
  std::vector<std::string> env_strings;
  for (const state::EnvVar& var : spec.env())
    env_strings.push_back(absl::StrCat(var.name(), "=", var.value()));
  std::vector<char*> argv_ptrs{const_cast<char*>(spec.command().c_str())};
  for (const std::string& arg : spec.args()) argv_ptrs.push_back(const_cast<char*>(arg.c_str()));
  argv_ptrs.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<gid_t> groups(spec.credentials().groups().begin(), spec.credentials().groups().end());
  if (groups.empty() && spec.has_credentials()) groups.push_back(spec.credentials().gid());
  const std::string oom_score_adj = absl::StrCat(spec.oom_score_adj(), "\n");

  int netns_errno = 0;
  if (absl::Status joined = JoinTaskNetwork(spec, &netns_errno); !joined.ok()) {
    unlink(sock_path.c_str());
    return FailStart(report_fd, "network namespace", joined.message(), netns_errno);
  }

  int failure_pipe[2];
  if (pipe(failure_pipe) != 0) return FailStart(report_fd, "pipe", strerror(errno), errno);
  for (int fd : failure_pipe) fcntl(fd, F_SETFD, FD_CLOEXEC);
  pid_t task = fork();
  if (task < 0) {
    unlink(sock_path.c_str());
    return FailStart(report_fd, "fork task",
                     absl::StrCat("cannot fork the task: ", strerror(errno)), errno);
  }
  if (task == 0) {
    close(failure_pipe[0]);
    ExecTask(spec, argv_ptrs.data(), envp.data(), groups, oom_score_adj, failure_pipe[1]);
  }
  setpgid(task, task);  // also done by the child; whichever runs first wins the race
  close(failure_pipe[1]);
  ChildFailure failure{};
  ssize_t got;
  do {
    got = read(failure_pipe[0], &failure, sizeof(failure));
  } while (got < 0 && errno == EINTR);
  close(failure_pipe[0]);
  if (got > 0) {
    int status;
    while (waitpid(task, &status, 0) < 0 && errno == EINTR) {
    }
    unlink(sock_path.c_str());
    return FailStart(report_fd, StageName(failure.stage), DescribeFailure(spec, failure),
                     failure.error_number);
  }

  state::ProcessRecord record;
  record.mutable_supervisor()->set_pid(getpid());
  record.mutable_supervisor()->set_start_time(ProcessStartTime(getpid()).value_or(0));
  record.mutable_task()->set_pid(task);
  record.mutable_task()->set_start_time(ProcessStartTime(task).value_or(0));
  record.set_task_pgid(task);
  record.set_started_at_unix_nanos(absl::ToUnixNanos(absl::Now()));
  if (absl::Status written = WriteTaskFile(dir, kPidFile, record.SerializeAsString());
      !written.ok()) {
    Log("cannot record the task's pid: %s", std::string(written.message()).c_str());
  }
  state::StartReport report;
  report.set_started(true);
  *report.mutable_process() = record;
  SendReport(report_fd, report);
  if (report_fd >= 0) close(report_fd);
  Log("task %s started as pid %d", spec.task_id().c_str(), static_cast<int>(task));

  std::vector<Connection> connections;
  std::optional<int> wait_status;
  while (!(wait_status = ReapIfExited(task))) {
    std::vector<pollfd> fds{{wake[0], POLLIN, 0}, {listener, POLLIN, 0}};
    for (const Connection& conn : connections) fds.push_back({conn.fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR: re-check the child
    if (fds[0].revents) {
      char drain[64];
      while (read(wake[0], drain, sizeof(drain)) > 0) {
      }
      if (g_term_requested) {
        g_term_requested = 0;
        Log("SIGTERM received: forwarding it to the task's process group");
        kill(-task, SIGTERM);
      }
    }
    if (fds[1].revents & POLLIN) {
      int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0 && connections.size() >= kMaxConnections) {
        close(fd);
      } else if (fd >= 0) {
        connections.push_back({fd, {}});
      }
    }
    // Connections accepted above were not polled yet; their revents slots do not exist.
    size_t polled = fds.size() - 2;
    std::vector<Connection> kept;
    for (size_t i = 0; i < connections.size(); ++i) {
      bool alive = i >= polled || fds[i + 2].revents == 0 || Serve(connections[i], task);
      if (alive) {
        kept.push_back(std::move(connections[i]));
      } else {
        close(connections[i].fd);
      }
    }
    connections = std::move(kept);
  }

  state::ExitRecord exit_record = ExitRecordOf(*wait_status);
  int rc = 0;
  if (absl::Status written = WriteTaskFile(dir, kExitFile, exit_record.SerializeAsString());
      !written.ok()) {
    Log("cannot record the task's exit: %s", std::string(written.message()).c_str());
    rc = 1;
  }
  Log("task %s exited: exit_code=%d signal=%d", spec.task_id().c_str(), exit_record.exit_code(),
      exit_record.signal());
  // Removing the socket before closing the connections means a client that sees EOF and then
  // reconnects gets "no such file" rather than a stale listener.
  unlink(sock_path.c_str());
  close(listener);
  for (const Connection& conn : connections) close(conn.fd);
  return rc;
}

}  // namespace carp_exec::tasks
