// carp_kernel.h on OpenBSD: SIOCGIFGATTR / SIOCSIFGATTR (relayd's carp.c does the same).
// Compiled only on OpenBSD; not built or tested by the Linux CI.
#ifdef __OpenBSD__

// BSD headers in the order they need each other.
#include <sys/types.h>
// then
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/sockio.h>
// then
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "fingerprint/backend_kind.h"
#include "fingerprint/carp_kernel.h"

namespace carp_exec::fingerprint {
namespace {

absl::Status GroupRequest(unsigned long request, absl::string_view group, ifgroupreq* ifgr) {
  if (group.empty() || group.size() >= sizeof(ifgr->ifgr_name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("failover: group \"", group, "\" is not an interface group name"));
  }
  std::memcpy(ifgr->ifgr_name, group.data(), group.size());
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    return absl::InternalError(absl::StrCat("failover: socket(AF_INET): ", std::strerror(errno)));
  }
  const int result = ::ioctl(s, request, ifgr);
  const int error = errno;
  ::close(s);
  if (result == 0) return absl::OkStatus();
  const char* name = request == SIOCGIFGATTR ? "SIOCGIFGATTR" : "SIOCSIFGATTR";
  if (error == ENOENT) {
    return absl::FailedPreconditionError(absl::StrCat("failover: ", name, " ", group,
                                                      ": no such interface group; check that the "
                                                      "group exists (ifconfig carpN group ",
                                                      group, ") and fix failover group"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("failover: ", name, " ", group, ": ", std::strerror(error),
                   error == EINVAL ? " (the group's counter must stay within 0..255)" : ""));
}

}  // namespace

bool KernelDemotionAvailable() { return true; }

absl::StatusOr<int> KernelReadGroupDemoteCount(absl::string_view group) {
  ifgroupreq ifgr{};
  if (absl::Status s = GroupRequest(SIOCGIFGATTR, group, &ifgr); !s.ok()) return s;
  return static_cast<int>(ifgr.ifgr_attrib.ifg_carp_demoted);
}

absl::Status KernelChangeGroupDemoteCount(absl::string_view group, int delta) {
  if (delta == 0 || std::abs(delta) > kOpenBsdMaxDemoteStep) {
    return absl::InvalidArgumentError(absl::StrCat("openbsd-carp: demotion step ", std::abs(delta),
                                                   " is outside 1..", kOpenBsdMaxDemoteStep));
  }
  ifgroupreq ifgr{};
  ifgr.ifgr_attrib.ifg_carp_demoted = delta;
  return GroupRequest(SIOCSIFGATTR, group, &ifgr);
}

absl::StatusOr<int> KernelReadFreeBsdDemotion() {
  return absl::UnimplementedError("failover: net.inet.carp.demotion exists on FreeBSD only");
}

absl::Status KernelAdjustFreeBsdDemotion(int /*delta*/) {
  return absl::UnimplementedError("failover: net.inet.carp.demotion exists on FreeBSD only");
}

}  // namespace carp_exec::fingerprint

#endif  // __OpenBSD__
