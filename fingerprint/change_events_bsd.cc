// ChangeEventSource for OpenBSD and FreeBSD: a PF_ROUTE socket, messages parsed by
// fingerprint/route_messages.h. Compiled only on those systems (fingerprint/CMakeLists.txt).
#if defined(__OpenBSD__) || defined(__FreeBSD__)

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "fingerprint/change_events.h"
#include "fingerprint/route_messages.h"
#include "fingerprint/unique_fd.h"

namespace carp_exec::fingerprint {
namespace {

#if defined(__OpenBSD__)
constexpr CarpOs kOs = CarpOs::kOpenBsd;
#else
constexpr CarpOs kOs = CarpOs::kFreeBsd;
#endif

class RouteSocketEvents final : public ChangeEventSource {
 public:
  explicit RouteSocketEvents(UniqueFd fd) : fd_(std::move(fd)) {}

  bool Wait(absl::Time deadline, int interrupt_fd) override {
    for (;;) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      std::array<pollfd, 2> fds = {pollfd{fd_.get(), POLLIN, 0}, pollfd{interrupt_fd, POLLIN, 0}};
      const nfds_t count = interrupt_fd >= 0 ? 2 : 1;
      const int ms = static_cast<int>(absl::ToInt64Milliseconds(left + absl::Microseconds(999)));
      const int ready = ::poll(fds.data(), count, ms);
      if (ready < 0 && errno != EINTR) return true;
      if (ready <= 0) continue;
      if (count == 2 && fds[1].revents != 0) return false;
      if (fds[0].revents != 0 && Drain()) return true;
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
      const ssize_t n = ::recv(fd_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
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

  UniqueFd fd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ChangeEventSource>> OpenChangeEventSource(
    const ObserverOptions& /*options*/) {
  UniqueFd fd(::socket(PF_ROUTE, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, AF_UNSPEC));
  if (!fd.valid()) {
    return absl::InternalError(
        absl::StrCat("failover events: socket(PF_ROUTE): ", std::strerror(errno)));
  }
  return std::make_unique<RouteSocketEvents>(std::move(fd));
}

}  // namespace carp_exec::fingerprint

#endif  // __OpenBSD__ || __FreeBSD__
