#include "tests/host/process_output.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "driver/mutex_lock.h"

namespace carp_exec::test_host {
namespace {

constexpr size_t kStdoutKeep = 1 << 20;

void CloseIfOpen(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

}  // namespace

ProcessOutput::ProcessOutput(int stdout_fd, int stderr_fd)
    : stdout_fd_(stdout_fd), stderr_fd_(stderr_fd) {
  int wake[2];
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) == 0) {
    wake_read_fd_ = wake[0];
    wake_write_fd_ = wake[1];
  }
  thread_ = std::thread([this] { Run(); });
}

ProcessOutput::~ProcessOutput() {
  Stop();
  CloseIfOpen(&stdout_fd_);
  CloseIfOpen(&stderr_fd_);
  CloseIfOpen(&wake_read_fd_);
  CloseIfOpen(&wake_write_fd_);
}

void ProcessOutput::Stop() {
  if (wake_write_fd_ >= 0) {
    const char byte = 1;
    // The pipe is non-blocking; a full pipe already wakes the reader.
    (void)!write(wake_write_fd_, &byte, 1);
  }
  if (thread_.joinable()) thread_.join();
}

void ProcessOutput::Run() {
  char buffer[16384];
  bool stdout_open = stdout_fd_ >= 0;
  bool stderr_open = stderr_fd_ >= 0;
  while (stdout_open || stderr_open) {
    pollfd fds[3] = {{stdout_open ? stdout_fd_ : -1, POLLIN, 0},
                     {stderr_open ? stderr_fd_ : -1, POLLIN, 0},
                     {wake_read_fd_, POLLIN, 0}};
    int ready = poll(fds, 3, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents != 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      const bool is_stdout = i == 0;
      ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        carp_exec::MutexLock lock(mu_);
        if (is_stdout) {
          stdout_open = false;
          stdout_eof_ = true;
        } else {
          stderr_open = false;
          stderr_eof_ = true;
          if (!stderr_partial_.empty()) {
            stderr_lines_.push_back(std::move(stderr_partial_));
            stderr_partial_.clear();
          }
        }
        continue;
      }
      Append(is_stdout, buffer, static_cast<size_t>(n));
    }
  }
  carp_exec::MutexLock lock(mu_);
  stopped_ = true;
}

void ProcessOutput::Append(bool is_stdout, const char* data, size_t size) {
  carp_exec::MutexLock lock(mu_);
  if (is_stdout) {
    stdout_count_ += size;
    if (stdout_.size() < kStdoutKeep) {
      stdout_.append(data, std::min(size, kStdoutKeep - stdout_.size()));
    }
    return;
  }
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      stderr_lines_.push_back(std::move(stderr_partial_));
      stderr_partial_.clear();
    } else {
      stderr_partial_.push_back(data[i]);
    }
  }
}

absl::StatusOr<std::string> ProcessOutput::WaitForFirstLine(absl::Time deadline,
                                                            size_t limit) const {
  carp_exec::MutexLock lock(mu_);
  auto settled = [this, limit]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stdout_.find('\n') != std::string::npos || stdout_.size() > limit || stdout_eof_ ||
           stopped_;
  };
  mu_.AwaitWithDeadline(absl::Condition(&settled), deadline);
  const size_t newline = stdout_.find('\n');
  if (newline != std::string::npos && newline <= limit) return stdout_.substr(0, newline);
  const std::string seen = absl::CHexEscape(stdout_.substr(0, 200));
  if (stdout_.size() > limit) {
    return absl::ResourceExhaustedError(absl::StrCat("handshake: no newline within the first ",
                                                     limit, " bytes of stdout; starts \"", seen,
                                                     "\""));
  }
  if (stdout_eof_) {
    return absl::UnavailableError(absl::StrCat(
        "handshake: plugin closed stdout (exited?) before a complete line; stdout held \"", seen,
        "\""));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("handshake: no line on stdout before the deadline; stdout held \"", seen, "\""));
}

bool ProcessOutput::WaitForEof(absl::Time deadline) const {
  carp_exec::MutexLock lock(mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return (stdout_eof_ && stderr_eof_) || stopped_;
  };
  mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
  return stdout_eof_ && stderr_eof_;
}

std::string ProcessOutput::StdoutBytes() const {
  carp_exec::MutexLock lock(mu_);
  return stdout_;
}

size_t ProcessOutput::StdoutByteCount() const {
  carp_exec::MutexLock lock(mu_);
  return stdout_count_;
}

std::vector<std::string> ProcessOutput::StderrLines() const {
  carp_exec::MutexLock lock(mu_);
  return stderr_lines_;
}

std::optional<std::string> ProcessOutput::WaitForStderrLine(
    std::function<bool(absl::string_view)> match, absl::Time deadline) const {
  carp_exec::MutexLock lock(mu_);
  size_t checked = 0;
  std::optional<std::string> found;
  // Each line is tested once, under the lock; `match` must not call back into this object.
  auto scan = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (; checked < stderr_lines_.size(); ++checked) {
      if (match(stderr_lines_[checked])) {
        found = stderr_lines_[checked];
        return true;
      }
    }
    return stderr_eof_ || stopped_;
  };
  mu_.AwaitWithDeadline(absl::Condition(&scan), deadline);
  return found;
}

}  // namespace carp_exec::test_host
