#include "driver/tasks/exec_session.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "driver/mutex_lock.h"
#include "driver/tasks/exec_io_loop.h"

namespace carp_exec::tasks {
namespace {

void CloseIfOpen(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

absl::Status PipeError() {
  return absl::ResourceExhaustedError(
      absl::StrCat("exec session: cannot create a pipe: ", std::strerror(errno)));
}

// The slave's path, from a thread-safe call where the OS has one.
absl::StatusOr<std::string> SlaveName(int master) {
#ifdef __linux__
  char name[128];
  if (ptsname_r(master, name, sizeof(name)) != 0) {
    return absl::InternalError(
        absl::StrCat("exec session: ptsname failed: ", std::strerror(errno)));
  }
  return std::string(name);
#else
  // ptsname uses a static buffer: serialise the call and copy the result.
  static absl::Mutex name_mu(absl::kConstInit);
  carp_exec::MutexLock lock(name_mu);
  const char* name = ptsname(master);
  if (name == nullptr) {
    return absl::InternalError(
        absl::StrCat("exec session: ptsname failed: ", std::strerror(errno)));
  }
  return std::string(name);
#endif
}

struct Pty {
  int master = -1;
  int slave = -1;
};

absl::Status OpenPty(const std::optional<TerminalSize>& size, Pty* pty) {
#if defined(__linux__) || defined(__FreeBSD__)
  pty->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
#else
  pty->master = posix_openpt(O_RDWR | O_NOCTTY);
  if (pty->master >= 0) fcntl(pty->master, F_SETFD, FD_CLOEXEC);
#endif
  if (pty->master < 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "exec session: cannot open a pseudo-terminal: ", std::strerror(errno),
        "; check that /dev/ptmx (devpts) is available and the pty limit is not reached"));
  }
  if (grantpt(pty->master) != 0 || unlockpt(pty->master) != 0) {
    const int error = errno;
    CloseIfOpen(&pty->master);
    return absl::InternalError(
        absl::StrCat("exec session: cannot unlock the pseudo-terminal: ", std::strerror(error)));
  }
  absl::StatusOr<std::string> name = SlaveName(pty->master);
  if (!name.ok()) {
    CloseIfOpen(&pty->master);
    return name.status();
  }
  pty->slave = open(name->c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (pty->slave < 0) {
    const int error = errno;
    CloseIfOpen(&pty->master);
    return absl::InternalError(
        absl::StrCat("exec session: cannot open ", *name, ": ", std::strerror(error)));
  }
  if (size.has_value()) {
    struct winsize ws;
    std::memset(&ws, 0, sizeof(ws));
    ws.ws_row = size->rows;
    ws.ws_col = size->cols;
    ioctl(pty->master, TIOCSWINSZ, &ws);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ExecSession>> ExecSession::Start(ExecSessionOptions options,
                                                                ExecSessionCallbacks callbacks) {
  // Parent-side fds handed to the loop, and child-side fds closed after the spawn.
  int out_fd = -1, err_fd = -1, in_fd = -1;
  int child_fds[3] = {-1, -1, -1};
  auto close_all = [&] {
    for (int* fd : {&out_fd, &err_fd, &in_fd, &child_fds[0], &child_fds[1], &child_fds[2]}) {
      CloseIfOpen(fd);
    }
  };

  ChildStdio stdio;
  if (options.tty) {
    Pty pty;
    absl::Status status = OpenPty(options.initial_size, &pty);
    if (!status.ok()) return status;
    out_fd = pty.master;
    child_fds[0] = pty.slave;
    // Like a login, the terminal belongs to the user the command runs as (grantpt gave it to
    // us); programs such as ssh or sudo check that.
    if (options.command.user.has_value() && geteuid() == 0) {
      if (fchown(pty.slave, options.command.user->uid, static_cast<gid_t>(-1)) != 0) {
        const int error = errno;
        close_all();
        return absl::InternalError(absl::StrCat("exec session: cannot give the terminal to uid ",
                                                options.command.user->uid, ": ",
                                                std::strerror(error)));
      }
    }
    stdio = {pty.slave, pty.slave, pty.slave, pty.slave};
  } else {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0) return PipeError();
    in_fd = in_pipe[1];
    child_fds[0] = in_pipe[0];
    if (pipe2(out_pipe, O_CLOEXEC) != 0) {
      close_all();
      return PipeError();
    }
    out_fd = out_pipe[0];
    child_fds[1] = out_pipe[1];
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
      close_all();
      return PipeError();
    }
    err_fd = err_pipe[0];
    child_fds[2] = err_pipe[1];
    stdio = {in_pipe[0], out_pipe[1], err_pipe[1], -1};
  }

  absl::StatusOr<pid_t> pid = SpawnInNewSession(options.command, stdio);
  // Holding the child's ends would keep EOF (or the pty hangup) from ever reaching us.
  for (int& fd : child_fds) CloseIfOpen(&fd);
  if (!pid.ok()) {
    close_all();
    return pid.status();
  }
  for (int fd : {out_fd, err_fd, in_fd}) {
    if (fd >= 0) SetNonBlocking(fd);
  }

  int wake[2];
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    // The child runs already: do not leave it behind.
    ChildIoLoop reaper(*pid, options.tty, out_fd, err_fd, in_fd, -1);
    reaper.KillGroup();
    reaper.StopWaitingAfterExit();
    reaper.Run({});
    return PipeError();
  }

  std::unique_ptr<ExecSession> session(new ExecSession(*pid, options.tty, wake[0], wake[1]));
  try {
    session->thread_ = std::thread(&ExecSession::RunLoop, session.get(), out_fd, err_fd, in_fd,
                                   std::move(options), std::move(callbacks));
  } catch (const std::system_error& error) {
    // No thread, no loop: kill and reap the child here; no exception leaves this module.
    ChildIoLoop reaper(*pid, session->tty_, out_fd, err_fd, in_fd, -1);
    reaper.KillGroup();
    reaper.StopWaitingAfterExit();
    reaper.Run({});
    {
      carp_exec::MutexLock lock(session->mu_);
      session->finished_ = true;
    }
    return absl::ResourceExhaustedError(
        absl::StrCat("exec session: cannot start its thread: ", error.what()));
  }
  return session;
}

ExecSession::ExecSession(pid_t pid, bool tty, int wake_read, int wake_write)
    : pid_(pid), tty_(tty), wake_read_(wake_read), wake_write_(wake_write) {}

ExecSession::~ExecSession() {
  Enqueue(Command{Command::Kind::kShutdown, {}, {}});
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();  // destroyed from on_exit: the loop is finished and touches nothing
    } else {
      thread_.join();
    }
  }
  close(wake_read_);
  close(wake_write_);
}

void ExecSession::Enqueue(Command command) {
  {
    carp_exec::MutexLock lock(mu_);
    if (finished_) return;
    commands_.push_back(std::move(command));
  }
  Wake();
}

void ExecSession::Wake() {
  const char byte = 1;
  // A full wake pipe already means "wake up"; EAGAIN is fine.
  ssize_t ignored = write(wake_write_, &byte, 1);
  (void)ignored;
}

bool ExecSession::WriteStdin(absl::string_view data) {
  if (data.empty()) return true;
  Command command{Command::Kind::kStdin, std::string(data), {}};  // copied outside the lock
  bool blocked = false;
  {
    carp_exec::MutexLock lock(mu_);
    if (finished_) return true;  // nobody reads any more: dropped, like a closed stdin
    commands_.push_back(std::move(command));
    stdin_queued_ += data.size();
    if (stdin_queued_ + stdin_in_loop_ >= kStdinPendingCap) blocked = stdin_blocked_ = true;
  }
  Wake();
  return !blocked;
}

bool ExecSession::NoteStdinPending(size_t taken, size_t in_loop) {
  carp_exec::MutexLock lock(mu_);
  stdin_queued_ -= taken;
  stdin_in_loop_ = in_loop;
  // Half the cap: the writer then has room for several messages before it blocks again.
  if (stdin_blocked_ && stdin_queued_ + stdin_in_loop_ <= kStdinPendingCap / 2) {
    stdin_blocked_ = false;
    return true;
  }
  return false;
}

void ExecSession::CloseStdin() { Enqueue(Command{Command::Kind::kCloseStdin, {}, {}}); }

absl::Status ExecSession::Resize(TerminalSize size) {
  if (!tty_) {
    return absl::FailedPreconditionError(
        "exec session: cannot resize a session without a tty; start it with tty=true "
        "(nomad alloc exec -t)");
  }
  Enqueue(Command{Command::Kind::kResize, {}, size});
  return absl::OkStatus();
}

void ExecSession::SetOutputPaused(bool paused) {
  {
    carp_exec::MutexLock lock(mu_);
    paused_ = paused;
  }
  // Resuming must wake the loop so it polls the outputs again.
  Wake();
}

void ExecSession::Terminate() { Enqueue(Command{Command::Kind::kTerminate, {}, {}}); }

void ExecSession::RunLoop(int out_fd, int err_fd, int in_fd, const ExecSessionOptions& options,
                          ExecSessionCallbacks callbacks) {
  ChildIoLoop::Outcome outcome;
  {
    ChildIoLoop loop(pid_, tty_, out_fd, err_fd, in_fd, wake_read_);
    loop.set_drain_after_exit(tty_ ? options.tty_drain_after_exit : options.pipe_drain_after_exit);
    ChildIoLoop::Hooks hooks;
    hooks.on_stdout = std::move(callbacks.on_stdout);
    hooks.on_stderr = std::move(callbacks.on_stderr);
    hooks.output_paused = [this] {
      carp_exec::MutexLock lock(mu_);
      return paused_;
    };
    auto stdin_pending = [this, &callbacks](size_t taken, size_t in_loop) {
      if (NoteStdinPending(taken, in_loop) && callbacks.on_stdin_ready) callbacks.on_stdin_ready();
    };
    hooks.on_stdin_pending = [&stdin_pending](size_t in_loop) { stdin_pending(0, in_loop); };
    hooks.on_wake = [this, &stdin_pending](ChildIoLoop& io) {
      std::deque<Command> commands;
      size_t taken = 0;
      {
        carp_exec::MutexLock lock(mu_);
        commands.swap(commands_);
        taken = stdin_queued_;  // every queued stdin byte is in `commands` now
      }
      for (const Command& command : commands) {
        switch (command.kind) {
          case Command::Kind::kStdin:
            io.QueueStdin(command.data);
            break;
          case Command::Kind::kCloseStdin:
            io.CloseStdin();
            break;
          case Command::Kind::kResize:
            io.Resize(command.size.rows, command.size.cols);
            break;
          case Command::Kind::kTerminate:
            io.KillGroup();
            break;
          case Command::Kind::kShutdown:
            io.KillGroup();
            io.StopWaitingAfterExit();
            break;
        }
      }
      stdin_pending(taken, io.stdin_pending_bytes());
    };
    outcome = loop.Run(hooks);
  }
  bool release_writer = false;
  {
    carp_exec::MutexLock lock(mu_);
    finished_ = true;
    commands_.clear();
    stdin_queued_ = stdin_in_loop_ = 0;
    release_writer = stdin_blocked_;
    stdin_blocked_ = false;
  }
  if (release_writer && callbacks.on_stdin_ready) callbacks.on_stdin_ready();
  ExecExit exit;
  if (outcome.error.ok()) {
    exit.exit_code = NomadExitCode(outcome.wait_status);
    exit.signal = TerminatingSignal(outcome.wait_status);
  } else {
    exit.exit_code = -1;
    exit.error = outcome.error;
  }
  // Last statement: on_exit may destroy this session.
  if (callbacks.on_exit) callbacks.on_exit(exit);
}

}  // namespace carp_exec::tasks
