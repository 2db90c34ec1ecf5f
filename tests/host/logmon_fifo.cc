#include "tests/host/logmon_fifo.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "driver/mutex_lock.h"

namespace carp_exec::test_host {
namespace {

constexpr size_t kKeepBytes = 4 << 20;

absl::Status ErrnoStatus(absl::string_view what, absl::string_view path, int error) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", strerror(error)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogmonFifo>> LogmonFifo::Create(std::string fifo_path,
                                                               std::string log_path) {
  if (mkfifo(fifo_path.c_str(), 0600) != 0) return ErrnoStatus("mkfifo", fifo_path, errno);
  const int read_fd = open(fifo_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (read_fd < 0) return ErrnoStatus("open for reading", fifo_path, errno);
  const int keep_fd = open(fifo_path.c_str(), O_WRONLY | O_CLOEXEC);
  if (keep_fd < 0) {
    const int error = errno;
    close(read_fd);
    return ErrnoStatus("open for writing", fifo_path, error);
  }
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int wake[2] = {-1, -1};
  if (log_fd < 0 || pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    const int error = errno;
    close(read_fd);
    close(keep_fd);
    if (log_fd >= 0) close(log_fd);
    return ErrnoStatus("open log file", log_path, error);
  }
  return std::unique_ptr<LogmonFifo>(new LogmonFifo(std::move(fifo_path), std::move(log_path),
                                                    read_fd, keep_fd, log_fd, wake[0], wake[1]));
}

LogmonFifo::LogmonFifo(std::string fifo_path, std::string log_path, int read_fd, int keep_fd,
                       int log_fd, int wake_read_fd, int wake_write_fd)
    : fifo_path_(std::move(fifo_path)),
      log_path_(std::move(log_path)),
      read_fd_(read_fd),
      keep_fd_(keep_fd),
      log_fd_(log_fd),
      wake_read_fd_(wake_read_fd),
      wake_write_fd_(wake_write_fd) {
  thread_ = std::thread([this] { Run(); });
}

LogmonFifo::~LogmonFifo() {
  const char byte = 1;
  (void)!write(wake_write_fd_, &byte, 1);
  if (thread_.joinable()) thread_.join();
  for (int fd : {read_fd_, keep_fd_, log_fd_, wake_read_fd_, wake_write_fd_}) close(fd);
}

void LogmonFifo::Run() {
  char buffer[8192];
  for (;;) {
    pollfd fds[2] = {{read_fd_, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    // Drain what the task wrote before honouring a stop request.
    if (fds[0].revents != 0) {
      const ssize_t n = read(read_fd_, buffer, sizeof(buffer));
      if (n > 0) {
        (void)!write(log_fd_, buffer, static_cast<size_t>(n));
        carp_exec::MutexLock lock(mu_);
        if (contents_.size() < kKeepBytes) contents_.append(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      // End-of-file cannot happen (we hold a write end); any other error ends the copy
      // rather than spinning on a descriptor that stays ready.
      return;
    }
    if (fds[1].revents != 0) return;
  }
}

std::string LogmonFifo::Contents() const {
  carp_exec::MutexLock lock(mu_);
  return contents_;
}

bool LogmonFifo::WaitFor(absl::string_view needle, absl::Time deadline) const {
  carp_exec::MutexLock lock(mu_);
  auto found = [this, needle]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return absl::string_view(contents_).find(needle) != absl::string_view::npos;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&found), deadline);
}

}  // namespace carp_exec::test_host
