// ChangeEventSource for Linux: netlink route events and inotify on keepalived's state file.
#ifdef __linux__

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "fingerprint/change_events.h"
#include "fingerprint/unique_fd.h"

namespace carp_exec::fingerprint {
namespace {

absl::Status Errno(absl::string_view call) {
  return absl::InternalError(absl::StrCat("failover events: ", call, ": ", std::strerror(errno)));
}

// Whether a buffer of netlink messages holds an address or link change.
bool HasRouteChange(const char* data, size_t size) {
  size_t left = size;
  for (const auto* header = reinterpret_cast<const nlmsghdr*>(data); NLMSG_OK(header, left);
       header = NLMSG_NEXT(header, left)) {
    switch (header->nlmsg_type) {
      case RTM_NEWADDR:
      case RTM_DELADDR:
      case RTM_NEWLINK:
      case RTM_DELLINK:
      case NLMSG_OVERRUN:
        return true;
      default:
        break;
    }
  }
  return false;
}

class LinuxChangeEvents final : public ChangeEventSource {
 public:
  LinuxChangeEvents(UniqueFd netlink, UniqueFd inotify, std::string state_name)
      : netlink_(std::move(netlink)),
        inotify_(std::move(inotify)),
        state_name_(std::move(state_name)) {}

  bool Wait(absl::Time deadline, int interrupt_fd) override {
    for (;;) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      // The netlink socket first; the inotify handle and the interrupt when there are.
      std::array<pollfd, 3> fds{};
      nfds_t count = 0;
      fds[count++] = pollfd{netlink_.get(), POLLIN, 0};
      const int inotify_at = inotify_.valid() ? static_cast<int>(count++) : -1;
      if (inotify_at >= 0) fds[inotify_at] = pollfd{inotify_.get(), POLLIN, 0};
      const int interrupt_at = interrupt_fd >= 0 ? static_cast<int>(count++) : -1;
      if (interrupt_at >= 0) fds[interrupt_at] = pollfd{interrupt_fd, POLLIN, 0};
      // Round up so a wait of 0.3 ms does not spin.
      const int ms = static_cast<int>(absl::ToInt64Milliseconds(left + absl::Microseconds(999)));
      const int ready = ::poll(fds.data(), count, ms);
      if (ready < 0 && errno != EINTR) return true;  // let the caller look; polling still works
      if (ready <= 0) continue;
      if (interrupt_at >= 0 && fds[interrupt_at].revents != 0) return false;
      bool changed = false;
      if (fds[0].revents != 0) changed = DrainNetlink() || changed;
      if (inotify_at >= 0 && fds[inotify_at].revents != 0) changed = DrainInotify() || changed;
      if (changed) return true;
    }
  }

  absl::string_view Describe() const override {
    return inotify_.valid() ? "netlink+inotify" : "netlink";
  }

 private:
  bool DrainNetlink() {
    bool changed = false;
    alignas(nlmsghdr) std::array<char, 16384> buffer;
    for (int reads = 0; reads < kMaxReadsPerDrain; ++reads) {
      const ssize_t n = ::recv(netlink_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n < 0) {
        // ENOBUFS: the kernel dropped messages for us; something changed.
        if (errno == ENOBUFS) changed = true;
        if (errno == EINTR) continue;
        return changed;
      }
      if (n == 0) return changed;
      changed = HasRouteChange(buffer.data(), static_cast<size_t>(n)) || changed;
    }
    return changed;  // more is queued: the next round reads it
  }

  bool DrainInotify() {
    bool changed = false;
    alignas(inotify_event) std::array<char, 4096> buffer;
    for (int reads = 0; reads < kMaxReadsPerDrain; ++reads) {
      const ssize_t n = ::read(inotify_.get(), buffer.data(), buffer.size());
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return changed;
      }
      for (size_t at = 0; at + sizeof(inotify_event) <= static_cast<size_t>(n);) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer.data() + at);
        const char* name = event->len > 0 ? event->name : "";
        if ((event->mask & IN_Q_OVERFLOW) != 0 || state_name_ == name) changed = true;
        at += sizeof(inotify_event) + event->len;
      }
    }
    return changed;  // more is queued: the next round reads it
  }

  UniqueFd netlink_;
  UniqueFd inotify_;
  std::string state_name_;  // the state file's name inside the watched directory
};

}  // namespace

absl::StatusOr<std::unique_ptr<ChangeEventSource>> OpenChangeEventSource(
    const ObserverOptions& options) {
  UniqueFd netlink(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
  if (!netlink.valid()) return Errno("socket(AF_NETLINK, NETLINK_ROUTE)");
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (::bind(netlink.get(), reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
    return Errno("bind(NETLINK_ROUTE, RTMGRP_LINK|RTMGRP_IPV4_IFADDR|RTMGRP_IPV6_IFADDR)");
  }
  UniqueFd inotify;
  std::string name;
  if (options.backend == BackendKind::kKeepalived && !options.state_file.empty()) {
    const size_t slash = options.state_file.rfind('/');
    const std::string dir =
        slash == std::string::npos ? "." : options.state_file.substr(0, slash == 0 ? 1 : slash);
    name = options.state_file.substr(slash == std::string::npos ? 0 : slash + 1);
    inotify = UniqueFd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!inotify.valid()) return Errno("inotify_init1");
    if (::inotify_add_watch(inotify.get(), dir.c_str(),
                            IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY) < 0) {
      return Errno(absl::StrCat("inotify_add_watch(", dir, ")"));
    }
  }
  return std::make_unique<LinuxChangeEvents>(std::move(netlink), std::move(inotify),
                                             std::move(name));
}

}  // namespace carp_exec::fingerprint

#endif  // __linux__
