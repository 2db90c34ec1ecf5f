#include "driver/tasks/exec_io_loop.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "driver/tasks/monotonic_time.h"

namespace carp_exec::tasks {
namespace {

// Without a pollable process handle, the loop checks waitpid this often.
constexpr absl::Duration kExitPollInterval = absl::Milliseconds(20);
constexpr size_t kReadChunk = size_t{16} * 1024;
constexpr size_t kFinalDrainLimit = 1 << 20;  // per fd, against a child that never stops

// A pollable fd that becomes readable when the process exits (Linux ≥ 5.3), else -1.
int OpenPidFd(pid_t pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
  const long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return static_cast<int>(fd);
  }
#endif
  return -1;
}

int PollTimeoutMs(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return -1;
  if (timeout <= absl::ZeroDuration()) return 0;
  // Round up so the loop does not spin just before a deadline.
  const int64_t ms =
      absl::ToInt64Milliseconds(timeout + absl::Milliseconds(1) - absl::Nanoseconds(1));
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX / 2));
}

}  // namespace

ChildIoLoop::ChildIoLoop(pid_t pid, bool tty, int out_fd, int err_fd, int in_fd, int wake_fd)
    : pid_(pid), tty_(tty), out_fd_(out_fd), err_fd_(err_fd), in_fd_(in_fd), wake_fd_(wake_fd) {}

ChildIoLoop::~ChildIoLoop() {
  CloseFd(&out_fd_);
  CloseFd(&err_fd_);
  CloseFd(&in_fd_);
  CloseFd(&pidfd_);
}

void ChildIoLoop::CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

void ChildIoLoop::QueueStdin(absl::string_view data) {
  if (stdin_closed_ || data.empty()) return;
  // Drop the written front once it is at least half the buffer, so the buffer stays within
  // twice what is pending (amortised: each byte is moved at most once more).
  if (stdin_offset_ > 0 && stdin_offset_ >= stdin_pending_.size() / 2) {
    stdin_pending_.erase(0, stdin_offset_);
    stdin_offset_ = 0;
  }
  stdin_pending_.append(data.data(), data.size());
  last_stdin_byte_ = static_cast<unsigned char>(data.back());
}

void ChildIoLoop::CloseStdin() {
  if (stdin_closed_) return;
  if (!tty_) {
    stdin_closing_ = true;
    stdin_closed_ = true;
    return;
  }
  // A terminal has no "close": type VEOF like a user. In canonical mode one VEOF at the start
  // of a line is end-of-file, while after a partial line it only pushes that line, so a
  // second one is needed.
  struct termios modes;
  char eof = 0x04;  // ^D, the usual VEOF
  bool canonical = true;
  if (out_fd_ >= 0 && tcgetattr(out_fd_, &modes) == 0) {
    if (modes.c_cc[VEOF] != _POSIX_VDISABLE) eof = static_cast<char>(modes.c_cc[VEOF]);
    canonical = (modes.c_lflag & ICANON) != 0;
  }
  const bool at_line_start = last_stdin_byte_ < 0 || last_stdin_byte_ == '\n' ||
                             last_stdin_byte_ == '\r' ||
                             last_stdin_byte_ == static_cast<unsigned char>(eof);
  std::string eofs(canonical && !at_line_start ? 2 : 1, eof);
  QueueStdin(eofs);
  stdin_closed_ = true;
}

void ChildIoLoop::Resize(uint16_t rows, uint16_t cols) {
  if (!tty_ || out_fd_ < 0) return;
  struct winsize size;
  std::memset(&size, 0, sizeof(size));
  size.ws_row = rows;
  size.ws_col = cols;
  ioctl(out_fd_, TIOCSWINSZ, &size);
}

void ChildIoLoop::KillGroup() {
  // While the main process is not reaped, its pid (== pgid) cannot name anyone else.
  if (!exited_) kill(-pid_, SIGKILL);
}

void ChildIoLoop::StopWaitingAfterExit() {
  stop_after_exit_ = true;
  if (exited_) drain_until_ = std::min(drain_until_, MonotonicNow());
}

void ChildIoLoop::ReapIfExited(absl::Time now) {
  int status = 0;
  pid_t got;
  do {
    got = waitpid(pid_, &status, WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == 0) return;
  exited_ = true;
  if (got < 0) {
    error_ = absl::InternalError(absl::StrCat(
        "exec: the exit status of pid ", pid_, " was collected elsewhere (", std::strerror(errno),
        "); nothing in the plugin may call waitpid(-1) or ignore SIGCHLD"));
  } else {
    wait_status_ = status;
  }
  drain_until_ = stop_after_exit_ ? now : now + drain_after_exit_;
  CloseFd(&pidfd_);
  // Nobody reads stdin any more.
  if (!tty_) CloseFd(&in_fd_);
  stdin_pending_.clear();
  stdin_offset_ = 0;
  stdin_closed_ = true;
}

size_t ChildIoLoop::ReadOnce(int* fd, const std::function<void(absl::string_view)>& sink) {
  char buffer[kReadChunk];
  while (true) {
    const ssize_t n = read(*fd, buffer, sizeof(buffer));
    if (n > 0) {
      if (sink) sink(absl::string_view(buffer, static_cast<size_t>(n)));
      return static_cast<size_t>(n);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    // 0 = EOF on a pipe; EIO = every slave fd of the pty is closed or hung up.
    CloseFd(fd);
    return 0;
  }
}

void ChildIoLoop::WritePendingStdin() {
  const int fd = stdin_target();
  while (fd >= 0 && stdin_pending_bytes() > 0) {
    const ssize_t n =
        write(fd, stdin_pending_.data() + stdin_offset_, stdin_pending_.size() - stdin_offset_);
    if (n > 0) {
      // Advance an offset rather than erase the front: one large message written in pipe-sized
      // pieces would otherwise be moved once per piece.
      stdin_offset_ += static_cast<size_t>(n);
      if (stdin_offset_ == stdin_pending_.size()) {
        stdin_pending_.clear();
        stdin_offset_ = 0;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // The reader is gone (EPIPE) or the terminal hung up: input has nowhere to go.
    stdin_pending_.clear();
    stdin_offset_ = 0;
    stdin_closed_ = true;
    if (!tty_) CloseFd(&in_fd_);
    return;
  }
  if (stdin_pending_bytes() == 0 && stdin_closing_ && !tty_) CloseFd(&in_fd_);
}

ChildIoLoop::Outcome ChildIoLoop::Run(const Hooks& hooks) {
  // Writing to a pipe whose reader exited raises SIGPIPE in this thread; keep it blocked here
  // (write then fails with EPIPE) and swallow it before restoring the mask.
  sigset_t pipe_set, previous_mask;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &previous_mask);

  if (!poll_for_exit_only_) pidfd_ = OpenPidFd(pid_);
  while (true) {
    absl::Time now = MonotonicNow();
    if (!exited_) ReapIfExited(now);
    if (!exited_ && now >= deadline_) {
      KillGroup();
      timed_out_ = true;
      deadline_ = absl::InfiniteFuture();
    }
    if (exited_) {
      if (out_fd_ < 0 && err_fd_ < 0) break;
      if (now >= drain_until_) {
        // What is already buffered belongs to the output; stragglers' future writes do not.
        for (int* fd : {&out_fd_, &err_fd_}) {
          const auto& sink = fd == &out_fd_ ? hooks.on_stdout : hooks.on_stderr;
          size_t total = 0;
          while (*fd >= 0 && total < kFinalDrainLimit) {
            const size_t n = ReadOnce(fd, sink);
            if (n == 0) break;
            total += n;
          }
        }
        break;
      }
    }
    if (!tty_ && stdin_closing_ && stdin_pending_bytes() == 0) CloseFd(&in_fd_);

    if (hooks.on_stdin_pending) hooks.on_stdin_pending(stdin_pending_bytes());
    const bool paused = hooks.output_paused && hooks.output_paused();
    pollfd fds[5];
    int count = 0;
    int out_index = -1, err_index = -1, in_index = -1, wake_index = -1;
    const bool want_stdin = stdin_pending_bytes() > 0 && stdin_target() >= 0;
    if (out_fd_ >= 0 && (!paused || (tty_ && want_stdin))) {
      out_index = count;
      fds[count++] = {
          out_fd_, static_cast<short>((paused ? 0 : POLLIN) | (tty_ && want_stdin ? POLLOUT : 0)),
          0};
    }
    if (err_fd_ >= 0 && !paused) {
      err_index = count;
      fds[count++] = {err_fd_, POLLIN, 0};
    }
    if (!tty_ && want_stdin) {
      in_index = count;
      fds[count++] = {in_fd_, POLLOUT, 0};
    }
    if (wake_fd_ >= 0) {
      wake_index = count;
      fds[count++] = {wake_fd_, POLLIN, 0};
    }
    if (pidfd_ >= 0 && !exited_) fds[count++] = {pidfd_, POLLIN, 0};

    absl::Duration timeout = absl::InfiniteDuration();
    if (!exited_) {
      timeout = std::min(timeout, deadline_ - now);
      if (pidfd_ < 0) timeout = std::min(timeout, kExitPollInterval);
    } else {
      timeout = std::min(timeout, drain_until_ - now);
    }
    const int ready = poll(fds, static_cast<nfds_t>(count), PollTimeoutMs(timeout));
    if (ready < 0) {
      if (errno == EINTR) continue;
      error_ = absl::InternalError(absl::StrCat("exec: poll failed: ", std::strerror(errno)));
      KillGroup();
      break;
    }
    const short readable = POLLIN | POLLHUP | POLLERR;
    if (out_index >= 0 && (fds[out_index].revents & readable) != 0 && !paused) {
      ReadOnce(&out_fd_, hooks.on_stdout);
    }
    if (err_index >= 0 && (fds[err_index].revents & readable) != 0) {
      ReadOnce(&err_fd_, hooks.on_stderr);
    }
    const bool out_writable = out_index >= 0 && (fds[out_index].revents & POLLOUT) != 0;
    const bool in_writable =
        in_index >= 0 && (fds[in_index].revents & (POLLOUT | POLLERR | POLLHUP)) != 0;
    if (out_writable || in_writable) WritePendingStdin();
    if (wake_index >= 0 && (fds[wake_index].revents & POLLIN) != 0) {
      char drain[64];
      while (read(wake_fd_, drain, sizeof(drain)) > 0) {
      }
      if (hooks.on_wake) hooks.on_wake(*this);
      WritePendingStdin();
    }
  }

  if (!exited_) {
    // Only after a poll failure: make sure the child is gone and reaped.
    kill(-pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    wait_status_ = status;
    exited_ = true;
  }
  CloseFd(&out_fd_);
  CloseFd(&err_fd_);
  CloseFd(&in_fd_);
  CloseFd(&pidfd_);

  sigset_t pending;
  sigpending(&pending);
  if (sigismember(&pending, SIGPIPE)) {
    int signal_number = 0;
    sigwait(&pipe_set, &signal_number);
  }
  pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);

  Outcome outcome;
  outcome.wait_status = wait_status_;
  outcome.timed_out = timed_out_;
  outcome.error = error_;
  return outcome;
}

}  // namespace carp_exec::tasks
