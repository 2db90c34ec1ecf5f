// ChangeEventSource for OpenBSD and FreeBSD: a PF_ROUTE socket, messages parsed by
// fingerprint/route_messages.h. Compiled only on those systems (fingerprint/CMakeLists.txt).
#if defined(__OpenBSD__) || defined(__FreeBSD__)

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "fingerprint/change_events.h"
#include "fingerprint/route_messages.h"

namespace carp_exec::fingerprint {
namespace {

#if defined(__OpenBSD__)
constexpr CarpOs kOs = CarpOs::kOpenBsd;
#else
constexpr CarpOs kOs = CarpOs::kFreeBsd;
#endif

class RouteSocketEvents final : public ChangeEventSource {
 public:
  explicit RouteSocketEvents(int fd) : fd_(fd) {}
  RouteSocketEvents(const RouteSocketEvents&) = delete;
  RouteSocketEvents& operator=(const RouteSocketEvents&) = delete;
  ~RouteSocketEvents() override { ::close(fd_); }

  bool Wait(absl::Time deadline) override {
    for (;;) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd fd{fd_, POLLIN, 0};
      const int ms = static_cast<int>(absl::ToInt64Milliseconds(left + absl::Microseconds(999)));
      const int ready = ::poll(&fd, 1, ms);
      if (ready < 0 && errno != EINTR) return true;
      if (ready <= 0) continue;
      if (Drain()) return true;
    }
  }

  absl::string_view Describe() const override { return "route socket"; }

 private:
  // Reads the queued messages (at most kMaxReadsPerDrain reads); true when one of them is
  // relevant or some were lost.
  bool Drain() {
    bool changed = false;
    std::array<char, 8192> buffer;
    for (int reads = 0; reads < kMaxReadsPerDrain; ++reads) {
      const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOBUFS) changed = true;
        return changed;
      }
      if (n == 0) return changed;
      absl::StatusOr<std::vector<RouteMessage>> messages =
          ParseRouteMessages(kOs, absl::string_view(buffer.data(), static_cast<size_t>(n)));
      if (!messages.ok()) return true;  // not understood: look again rather than miss it
      for (const RouteMessage& message : *messages) changed = changed || message.Relevant(kOs);
    }
    return changed;  // more is queued: the next round reads it
  }

  int fd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ChangeEventSource>> OpenChangeEventSource(
    const ObserverOptions& /*options*/) {
  const int fd = ::socket(PF_ROUTE, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, AF_UNSPEC);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("failover events: socket(PF_ROUTE): ", std::strerror(errno)));
  }
  return std::make_unique<RouteSocketEvents>(fd);
}

}  // namespace carp_exec::fingerprint

#endif  // __OpenBSD__ || __FreeBSD__
