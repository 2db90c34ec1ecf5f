#include "driver/failover/ready_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "driver/log/hclog.h"
#include "driver/tasks/monotonic_time.h"

namespace carp_exec::failover {
namespace {

std::string Describe(const config::HostPort& address) {
  if (address.host.find(':') != std::string::npos) {
    return absl::StrCat("[", address.host, "]:", address.port);
  }
  return absl::StrCat(address.host, ":", address.port);
}

int RemainingMs(absl::Time deadline) {
  absl::Duration left = deadline - tasks::MonotonicNow();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(left)));
}

// Waits for `events` on fd until the deadline; false on timeout or error.
bool WaitFor(int fd, short events, absl::Time deadline) {
  for (;;) {
    int ms = RemainingMs(deadline);
    if (ms == 0) return false;
    struct pollfd pfd = {fd, events, 0};
    int n = ::poll(&pfd, 1, ms);
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

// A connected, non-blocking socket, or an error naming the address.
absl::StatusOr<int> Connect(const config::HostPort& address, absl::Time deadline) {
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // Numeric only (the config refuses names): getaddrinfo then never waits on DNS, so an
  // attempt stays within its deadline on the single failover worker.
  hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
  struct addrinfo* found = nullptr;
  const std::string port = absl::StrCat(address.port);
  const std::string host = address.host == "localhost" ? "127.0.0.1" : address.host;
  int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat(Describe(address), ": cannot resolve: ", ::gai_strerror(rc)));
  }
  absl::Cleanup free_found = [found] { ::freeaddrinfo(found); };
  std::string last_error = "no address";
  for (struct addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
    if (errno == EINPROGRESS) {
      if (WaitFor(fd, POLLOUT, deadline)) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) return fd;
        last_error = std::strerror(err != 0 ? err : errno);
      } else {
        last_error = "connect timed out";
      }
    } else {
      last_error = std::strerror(errno);
    }
    ::close(fd);
  }
  return absl::UnavailableError(absl::StrCat(Describe(address), ": ", last_error));
}

}  // namespace

absl::Status TcpConnectCheck(const config::HostPort& address, absl::Duration timeout) {
  absl::StatusOr<int> fd = Connect(address, tasks::MonotonicNow() + timeout);
  if (!fd.ok()) return fd.status();
  ::close(*fd);
  return absl::OkStatus();
}

absl::StatusOr<int> HttpGetStatus(const config::HttpProbeUrl& url, absl::Duration timeout) {
  const absl::Time deadline = tasks::MonotonicNow() + timeout;
  absl::StatusOr<int> fd = Connect(url.address, deadline);
  if (!fd.ok()) return absl::UnavailableError(absl::StrCat(url.url, ": ", fd.status().message()));
  absl::Cleanup close_fd = [fd = *fd] { ::close(fd); };
  const std::string request = absl::StrCat(
      "GET ", url.target.empty() ? "/" : url.target, " HTTP/1.1\r\nHost: ", Describe(url.address),
      "\r\nUser-Agent: carp_exec-ready\r\nAccept: */*\r\nConnection: close\r\n\r\n");
  absl::string_view pending = request;
  while (!pending.empty()) {
    if (!WaitFor(*fd, POLLOUT, deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(url.url, ": timed out sending the request"));
    }
    ssize_t n = ::send(*fd, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return absl::UnavailableError(absl::StrCat(url.url, ": ", std::strerror(errno)));
    }
    pending.remove_prefix(static_cast<size_t>(n));
  }
  // Only the status line matters; stop reading as soon as it is complete.
  std::string head;
  while (head.find('\n') == std::string::npos && head.size() < 1024) {
    if (!WaitFor(*fd, POLLIN, deadline)) {
      return absl::DeadlineExceededError(
          absl::StrCat(url.url, ": no response within ", absl::FormatDuration(timeout)));
    }
    char buffer[512];
    ssize_t n = ::recv(*fd, buffer, sizeof(buffer), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return absl::UnavailableError(absl::StrCat(url.url, ": ", std::strerror(errno)));
    }
    if (n == 0) break;
    head.append(buffer, static_cast<size_t>(n));
  }
  absl::string_view line = head;
  line = line.substr(0, line.find('\n'));
  line = absl::StripTrailingAsciiWhitespace(line);
  std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
  int status = 0;
  if (words.size() < 2 || !absl::StartsWith(words[0], "HTTP/") ||
      !absl::SimpleAtoi(words[1], &status) || status < 100 || status > 999) {
    return absl::UnavailableError(
        absl::StrCat(url.url, ": not an HTTP response (first line \"", line.substr(0, 80), "\")"));
  }
  return status;
}

absl::Duration AttemptTimeout(const config::ReadyCheck& check) {
  return std::clamp(check.interval / 2, kMinAttemptTimeout, kMaxAttemptTimeout);
}

absl::Duration NextAttemptDelay(absl::Duration interval, absl::Duration last_attempt) {
  return std::max(interval, kAttemptSpacing * std::max(last_attempt, absl::ZeroDuration()));
}

ProbeResult SocketReadyProber::Probe(const config::ReadyCheck& check,
                                     absl::Duration attempt_timeout) {
  ProbeResult result{true, ""};
  if (check.http.has_value()) {
    absl::StatusOr<int> status = HttpGetStatus(*check.http, attempt_timeout);
    if (!status.ok()) return {false, std::string(status.status().message())};
    if (*status < 200 || *status > 299) {
      return {false, absl::StrCat(check.http->url, " ", *status)};
    }
    result.detail = absl::StrCat(check.http->url, " ", *status);
  }
  if (check.tcp.has_value()) {
    absl::Status s = TcpConnectCheck(*check.tcp, attempt_timeout);
    if (!s.ok()) return {false, std::string(s.message())};
    absl::StrAppend(&result.detail, result.detail.empty() ? "" : ", ", Describe(*check.tcp),
                    " accepted");
  }
  if (!check.http.has_value() && !check.tcp.has_value()) result.detail = "no check configured";
  return result;
}

std::string EncodeReadyCheck(const std::optional<config::ReadyCheck>& check) {
  if (!check.has_value()) return "";
  std::string out = "ready v1\n";
  if (check->http.has_value()) absl::StrAppend(&out, "http ", check->http->url, "\n");
  if (check->tcp.has_value()) absl::StrAppend(&out, "tcp ", Describe(*check->tcp), "\n");
  absl::StrAppend(&out, "interval_ns ", absl::ToInt64Nanoseconds(check->interval), "\n",
                  "timeout_ns ", absl::ToInt64Nanoseconds(check->timeout), "\n");
  return out;
}

absl::StatusOr<std::optional<config::ReadyCheck>> DecodeReadyCheck(absl::string_view bytes) {
  if (bytes.empty()) return std::optional<config::ReadyCheck>();
  config::ReadyCheck check;
  bool saw_header = false, saw_interval = false, saw_timeout = false;
  for (absl::string_view line : absl::StrSplit(bytes, '\n', absl::SkipEmpty())) {
    auto bad = [&](absl::string_view why) {
      return absl::DataLossError(absl::StrCat("stored ready check: line \"", line, "\": ", why));
    };
    size_t space = line.find(' ');
    absl::string_view key = line.substr(0, space);
    absl::string_view value = space == absl::string_view::npos ? "" : line.substr(space + 1);
    if (key == "ready") {
      if (value != "v1") return bad("unknown version");
      saw_header = true;
    } else if (key == "http") {
      absl::StatusOr<config::HttpProbeUrl> url = config::ParseHttpProbeUrl(value);
      if (!url.ok()) return bad(url.status().message());
      check.http = *url;
    } else if (key == "tcp") {
      absl::StatusOr<config::HostPort> address = config::ParseHostPort(value);
      if (!address.ok()) return bad(address.status().message());
      check.tcp = *address;
    } else if (key == "interval_ns" || key == "timeout_ns") {
      int64_t ns = 0;
      if (!absl::SimpleAtoi(value, &ns) || ns <= 0) return bad("expected nanoseconds > 0");
      (key == "interval_ns" ? check.interval : check.timeout) = absl::Nanoseconds(ns);
      (key == "interval_ns" ? saw_interval : saw_timeout) = true;
    } else {
      return bad("unknown key");
    }
  }
  if (!saw_header || !saw_interval || !saw_timeout) {
    return absl::DataLossError("stored ready check is incomplete (needs ready, interval, timeout)");
  }
  // An older version may have stored values outside today's bounds (task_config.cc's
  // ValidateReady): clamp them, so a recovered task cannot set the worker's load either.
  const absl::Duration interval =
      std::clamp(check.interval, config::kMinReadyInterval, config::kMaxReadyInterval);
  const absl::Duration timeout = std::clamp(check.timeout, interval, config::kMaxReadyTimeout);
  if (interval != check.interval || timeout != check.timeout) {
    log::Warn("carp_exec", "stored ready check out of bounds: clamped",
              {{"interval", absl::FormatDuration(check.interval)},
               {"timeout", absl::FormatDuration(check.timeout)},
               {"clamped_interval", absl::FormatDuration(interval)},
               {"clamped_timeout", absl::FormatDuration(timeout)}});
    check.interval = interval;
    check.timeout = timeout;
  }
  return std::optional<config::ReadyCheck>(check);
}

}  // namespace carp_exec::failover
