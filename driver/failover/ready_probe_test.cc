// Ready probes against real listeners on 127.0.0.1 that the test itself opens.

#include "driver/failover/ready_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "driver/mutex_lock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {
namespace {

using ::testing::HasSubstr;

// A loopback listener that answers each connection with `response` (or nothing when silent),
// on its own thread, for the lifetime of the object.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::string response, bool silent = false)
      : response_(std::move(response)), silent_(silent) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }

  uint16_t port() const { return port_; }
  std::string last_request() {
    carp_exec::MutexLock lock(mu_);
    return last_request_;
  }

 private:
  void Serve() {
    std::vector<int> held;
    while (!stop_) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 20) <= 0) continue;
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      if (silent_) {
        held.push_back(client);  // accepted, never answered
        continue;
      }
      std::string request;
      char buffer[1024];
      while (request.find("\r\n\r\n") == std::string::npos) {
        pollfd in{client, POLLIN, 0};
        if (::poll(&in, 1, 1000) <= 0) break;
        ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<size_t>(n));
      }
      {
        carp_exec::MutexLock lock(mu_);
        last_request_ = request;
      }
      (void)::send(client, response_.data(), response_.size(), MSG_NOSIGNAL);
      ::close(client);
    }
    for (int client : held) ::close(client);
  }

  std::string response_;
  bool silent_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Mutex mu_;
  std::string last_request_ ABSL_GUARDED_BY(mu_);
};

// A loopback port with nothing listening: bound, then closed again.
uint16_t ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

config::ReadyCheck HttpCheck(uint16_t port, std::string path = "/ping") {
  absl::StatusOr<config::HttpProbeUrl> url =
      config::ParseHttpProbeUrl(absl::StrCat("http://127.0.0.1:", port, path));
  EXPECT_TRUE(url.ok()) << url.status();
  config::ReadyCheck check;
  check.http = *url;
  check.interval = absl::Milliseconds(250);
  check.timeout = absl::Seconds(60);
  return check;
}

config::ReadyCheck TcpCheck(uint16_t port) {
  config::ReadyCheck check;
  check.tcp = config::HostPort{"127.0.0.1", port};
  check.interval = absl::Milliseconds(250);
  check.timeout = absl::Seconds(60);
  return check;
}

TEST(ReadyProbeTest, Http2xxIsReady) {
  LoopbackServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK");
  ASSERT_NE(server.port(), 0);
  SocketReadyProber prober;
  ProbeResult result = prober.Probe(HttpCheck(server.port()), absl::Seconds(2));
  EXPECT_TRUE(result.ready) << result.detail;
  EXPECT_EQ(result.detail, absl::StrCat("http://127.0.0.1:", server.port(), "/ping 200"));
  EXPECT_THAT(server.last_request(), HasSubstr("GET /ping HTTP/1.1\r\n"));
  EXPECT_THAT(server.last_request(), HasSubstr(absl::StrCat("Host: 127.0.0.1:", server.port())));

  LoopbackServer no_content("HTTP/1.0 204 No Content\r\n\r\n");
  EXPECT_TRUE(prober.Probe(HttpCheck(no_content.port()), absl::Seconds(2)).ready);
}

TEST(ReadyProbeTest, HttpErrorStatusIsNotReady) {
  LoopbackServer server("HTTP/1.1 503 Service Unavailable\r\n\r\n");
  SocketReadyProber prober;
  ProbeResult result = prober.Probe(HttpCheck(server.port()), absl::Seconds(2));
  EXPECT_FALSE(result.ready);
  EXPECT_THAT(result.detail, HasSubstr(" 503"));
  LoopbackServer redirect("HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n");
  EXPECT_FALSE(prober.Probe(HttpCheck(redirect.port()), absl::Seconds(2)).ready);
}

TEST(ReadyProbeTest, NotHttpIsNotReady) {
  LoopbackServer server("SSH-2.0-OpenSSH_9.2\r\n");
  absl::StatusOr<int> status = HttpGetStatus(*HttpCheck(server.port()).http, absl::Seconds(2));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.status().message()), HasSubstr("not an HTTP response"));
}

TEST(ReadyProbeTest, SilentServerTimesOutWithinTheAttempt) {
  LoopbackServer server("", /*silent=*/true);
  absl::Time start = absl::Now();
  absl::StatusOr<int> status =
      HttpGetStatus(*HttpCheck(server.port()).http, absl::Milliseconds(200));
  absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.status().message()), HasSubstr("no response within 200ms"));
  EXPECT_LT(took, absl::Seconds(5));  // bounded, not hung
}

TEST(ReadyProbeTest, RefusedIsNotReady) {
  const uint16_t port = ClosedPort();
  SocketReadyProber prober;
  ProbeResult http = prober.Probe(HttpCheck(port), absl::Seconds(2));
  EXPECT_FALSE(http.ready);
  EXPECT_THAT(http.detail, HasSubstr("refused"));
  ProbeResult tcp = prober.Probe(TcpCheck(port), absl::Seconds(2));
  EXPECT_FALSE(tcp.ready);
  EXPECT_THAT(tcp.detail, HasSubstr(absl::StrCat("127.0.0.1:", port)));
}

TEST(ReadyProbeTest, TcpAcceptIsReady) {
  LoopbackServer server("", /*silent=*/true);
  SocketReadyProber prober;
  ProbeResult result = prober.Probe(TcpCheck(server.port()), absl::Seconds(2));
  EXPECT_TRUE(result.ready) << result.detail;
  EXPECT_EQ(result.detail, absl::StrCat("127.0.0.1:", server.port(), " accepted"));
}

TEST(ReadyProbeTest, BothChecksMustPass) {
  LoopbackServer http("HTTP/1.1 200 OK\r\n\r\n");
  config::ReadyCheck check = HttpCheck(http.port());
  check.tcp = config::HostPort{"127.0.0.1", ClosedPort()};
  SocketReadyProber prober;
  EXPECT_FALSE(prober.Probe(check, absl::Seconds(2)).ready);
  LoopbackServer tcp("", /*silent=*/true);
  check.tcp = config::HostPort{"127.0.0.1", tcp.port()};
  EXPECT_TRUE(prober.Probe(check, absl::Seconds(2)).ready);
}

TEST(ReadyCheckEncodingTest, RoundTrips) {
  config::ReadyCheck check = HttpCheck(8080, "/ping?deep=1");
  check.tcp = config::HostPort{"127.0.0.1", 443};
  std::string bytes = EncodeReadyCheck(check);
  absl::StatusOr<std::optional<config::ReadyCheck>> decoded = DecodeReadyCheck(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_TRUE(decoded->has_value());
  EXPECT_EQ((*decoded)->http->url, "http://127.0.0.1:8080/ping?deep=1");
  EXPECT_EQ((*decoded)->http->target, "/ping?deep=1");
  EXPECT_EQ((*decoded)->tcp->port, 443);
  EXPECT_EQ((*decoded)->interval, absl::Milliseconds(250));
  EXPECT_EQ((*decoded)->timeout, absl::Seconds(60));

  EXPECT_EQ(EncodeReadyCheck(std::nullopt), "");
  decoded = DecodeReadyCheck("");
  ASSERT_TRUE(decoded.ok());
  EXPECT_FALSE(decoded->has_value());
}

TEST(ReadyCheckEncodingTest, RejectsDamage) {
  EXPECT_FALSE(DecodeReadyCheck("ready v1\nhttp nonsense\ninterval_ns 1\ntimeout_ns 1\n").ok());
  EXPECT_FALSE(DecodeReadyCheck("ready v1\ninterval_ns 1\n").ok());
  EXPECT_FALSE(DecodeReadyCheck("ready v9\ninterval_ns 1\ntimeout_ns 1\n").ok());
  EXPECT_FALSE(DecodeReadyCheck("\xff\xfe").ok());
}

TEST(ReadyCheckEncodingTest, ClampsOutOfBoundsValuesStoredByOlderVersions) {
  config::ReadyCheck check = HttpCheck(8080, "/ping");
  check.interval = absl::Milliseconds(1);  // below kMinReadyInterval
  check.timeout = absl::Hours(5);          // above kMaxReadyTimeout
  absl::StatusOr<std::optional<config::ReadyCheck>> decoded =
      DecodeReadyCheck(EncodeReadyCheck(check));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_TRUE(decoded->has_value());
  EXPECT_EQ((*decoded)->interval, config::kMinReadyInterval);
  EXPECT_EQ((*decoded)->timeout, config::kMaxReadyTimeout);

  check.interval = absl::Hours(2);  // above kMaxReadyInterval, and above its timeout
  check.timeout = absl::Seconds(1);
  decoded = DecodeReadyCheck(EncodeReadyCheck(check));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ((*decoded)->interval, config::kMaxReadyInterval);
  EXPECT_EQ((*decoded)->timeout, config::kMaxReadyInterval);  // never below the interval
}

TEST(ReadyAttemptLoadTest, AttemptTimeoutIsHalfTheIntervalWithinItsBounds) {
  config::ReadyCheck check = HttpCheck(8080, "/ping");
  check.interval = config::kMinReadyInterval;
  EXPECT_EQ(AttemptTimeout(check), kMinAttemptTimeout);
  check.interval = absl::Seconds(1);
  EXPECT_EQ(AttemptTimeout(check), absl::Milliseconds(500));
  check.interval = config::kMaxReadyInterval;
  EXPECT_EQ(AttemptTimeout(check), kMaxAttemptTimeout);
}

TEST(ReadyAttemptLoadTest, SlowAttemptsSpaceTheNextOneOut) {
  // A 50 ms interval whose attempts hit the 500 ms (http + tcp) limit must not keep the
  // worker busy: the next attempt waits ten times the last one's duration.
  EXPECT_EQ(NextAttemptDelay(absl::Milliseconds(50), absl::Milliseconds(500)),
            kAttemptSpacing * absl::Milliseconds(500));
  EXPECT_EQ(NextAttemptDelay(absl::Milliseconds(250), absl::Milliseconds(1)),
            absl::Milliseconds(250));
  EXPECT_EQ(NextAttemptDelay(absl::Milliseconds(250), -absl::Seconds(1)), absl::Milliseconds(250));
}

}  // namespace
}  // namespace carp_exec::failover
