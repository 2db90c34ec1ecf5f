// carp_kernel.h on FreeBSD: sysctlbyname("net.inet.carp.demotion").
// Compiled only on FreeBSD; not built or tested by the Linux CI.
#ifdef __FreeBSD__

#include <sys/types.h>
// after sys/types.h
#include <sys/sysctl.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "fingerprint/backend_kind.h"
#include "fingerprint/carp_kernel.h"

namespace carp_exec::fingerprint {
namespace {

constexpr char kDemotion[] = "net.inet.carp.demotion";

absl::Status SysctlError(absl::string_view what) {
  const int error = errno;
  return absl::FailedPreconditionError(
      absl::StrCat("failover: sysctlbyname(", kDemotion, ") ", what, ": ", std::strerror(error),
                   error == ENOENT ? "; load carp(4) with `kldload carp`" : ""));
}

}  // namespace

bool KernelDemotionAvailable() { return true; }

absl::StatusOr<int> KernelReadGroupDemoteCount(absl::string_view /*group*/) {
  return absl::UnimplementedError("failover: interface group demote counters are OpenBSD's");
}

absl::Status KernelChangeGroupDemoteCount(absl::string_view /*group*/, int /*delta*/) {
  return absl::UnimplementedError("failover: interface group demote counters are OpenBSD's");
}

absl::StatusOr<int> KernelReadFreeBsdDemotion() {
  int value = 0;
  size_t size = sizeof(value);
  if (::sysctlbyname(kDemotion, &value, &size, nullptr, 0) != 0) return SysctlError("read");
  return value;
}

absl::Status KernelAdjustFreeBsdDemotion(int delta) {
  if (delta == 0 || std::abs(delta) > kFreeBsdMaxSkew) {
    return absl::InvalidArgumentError(absl::StrCat("freebsd-carp: demotion step ", std::abs(delta),
                                                   " is outside 1..", kFreeBsdMaxSkew));
  }
  // The kernel adds the written value to the demotion (carp_demote_adj).
  if (::sysctlbyname(kDemotion, nullptr, nullptr, &delta, sizeof(delta)) != 0) {
    return SysctlError(absl::StrCat("write ", delta));
  }
  return absl::OkStatus();
}

}  // namespace carp_exec::fingerprint

#endif  // __FreeBSD__
