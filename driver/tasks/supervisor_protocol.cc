#include "driver/tasks/supervisor_protocol.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "driver/tasks/monotonic_time.h"

namespace carp_exec::tasks {
namespace {

// Milliseconds left until `deadline`, for poll(2); never negative.
int MillisUntil(absl::Time deadline) {
  int64_t ms = absl::ToInt64Milliseconds(deadline - MonotonicNow());
  return ms < 0 ? 0 : static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

}  // namespace

absl::StatusOr<int> ConnectSupervisor(absl::string_view path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("supervisor socket path \"", path, "\" is too long for a unix socket"));
  }
  memcpy(addr.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot create a unix socket: ", strerror(errno)));
  }
  // A full backlog answers EAGAIN on a non-blocking unix socket; a busy supervisor accepts soon.
  absl::Time deadline = MonotonicNow() + absl::Seconds(2);
  while (true) {
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
    int saved = errno;
    if (saved == EINTR) continue;
    if ((saved == EAGAIN || saved == EINPROGRESS) && MonotonicNow() < deadline) {
      if (saved == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        poll(&p, 1, MillisUntil(deadline));
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && (p.revents & POLLOUT)) return fd;
      } else {
        usleep(1000);
      }
      continue;
    }
    close(fd);
    std::string message =
        absl::StrCat("supervisor socket \"", path, "\" does not answer: ", strerror(saved));
    if (saved == ENOENT || saved == ECONNREFUSED) return absl::UnavailableError(message);
    return absl::InternalError(message);
  }
}

absl::StatusOr<std::string> AskSupervisor(absl::string_view path, absl::string_view request,
                                          absl::Duration timeout) {
  absl::Time deadline = MonotonicNow() + timeout;
  absl::StatusOr<int> connected = ConnectSupervisor(path);
  if (!connected.ok()) return connected.status();
  int fd = *connected;
  absl::Cleanup closer = [fd] { close(fd); };
  std::string line = absl::StrCat(request, "\n");
  absl::string_view pending = line;
  while (!pending.empty()) {
    ssize_t n = send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      pending.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      return absl::UnavailableError(
          absl::StrCat("supervisor socket \"", path, "\": cannot send request: ", strerror(errno)));
    }
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, MillisUntil(deadline)) == 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("supervisor socket \"", path, "\" did not take the request in time"));
    }
  }
  std::string reply;
  char buf[256];
  while (reply.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, MillisUntil(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      return absl::DeadlineExceededError(absl::StrCat("supervisor socket \"", path,
                                                      "\" did not answer \"", request, "\" in ",
                                                      absl::FormatDuration(timeout)));
    }
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      return absl::UnavailableError(absl::StrCat("supervisor socket \"", path,
                                                 "\" closed before answering \"", request, "\""));
    }
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > 4096) {
      return absl::InternalError(
          absl::StrCat("supervisor socket \"", path, "\" sent an overlong reply"));
    }
  }
  reply.resize(reply.find('\n'));
  return reply;
}

}  // namespace carp_exec::tasks
