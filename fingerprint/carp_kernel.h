#pragma once
// In-process access to the BSD demote counters and CARP state, where the kernel offers it: no
// fork per demotion or observation. The tool paths (fingerprint/carp_tools.h) stay the
// fallback, chosen with the plugin options `demote_via = "tool"` / `observe_via = "tool"`, and
// are what the fakes test; this file is compiled for real only on OpenBSD and FreeBSD
// (elsewhere every call is Unimplemented). The observation's kernel facts are in
// carp_kernel_observe_bsd.cc.
//
//  OpenBSD  SIOCGIFGATTR / SIOCSIFGATTR on an AF_INET datagram socket with struct ifgroupreq
//           (ifgr_name = group, ifgr_attrib.ifg_carp_demoted = the delta), as relayd and bgpd
//           do (usr.sbin/relayd/carp.c, carp_demote_get / carp_demote_ioctl). The kernel checks
//           the 0..255 range (sys/net/if.c); the 128-per-request limit is ifconfig's and is
//           kept here too so both paths behave alike.
//  FreeBSD  sysctlbyname("net.inet.carp.demotion"): reading gives the counter, writing an int
//           adds it (sys/netinet/ip_carp.c, carp_demote_adj_sysctl).

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fingerprint/backend_kind.h"
#include "fingerprint/carp_interface.h"

namespace carp_exec::fingerprint {

// True when this build can read `backend`'s CARP state and addresses in-process (SIOCGVH and
// getifaddrs: carp_kernel_observe_bsd.cc): openbsd-carp in an OpenBSD build, freebsd-carp in
// a FreeBSD build. observe_via = "kernel" uses it; the tools stay the fallback.
bool KernelCarpObservationAvailable(BackendKind backend);

// What ifconfig would say of `interfaces` (their vhids' states, advbase, advskew, and their
// addresses; FreeBSD: with each address's vhid), read in-process. FreeBSD with no interfaces
// given: every interface with a vhid-tagged address. OpenBSD needs the interfaces; `groups`,
// `link_status` and `carppeer` stay empty (the observer does not need them).
absl::StatusOr<std::vector<CarpInterfaceStatus>> KernelReadCarpInterfaces(
    const std::vector<std::string>& interfaces);

// True when this build can change the counters in-process (an OpenBSD or FreeBSD build).
bool KernelDemotionAvailable();

// OpenBSD: the demote counter of `group`, and a change of it by `delta` (1..128 either way).
absl::StatusOr<int> KernelReadGroupDemoteCount(absl::string_view group);
absl::Status KernelChangeGroupDemoteCount(absl::string_view group, int delta);

// FreeBSD: net.inet.carp.demotion, and adding `delta` (1..240 either way) to it.
absl::StatusOr<int> KernelReadFreeBsdDemotion();
absl::Status KernelAdjustFreeBsdDemotion(int delta);

}  // namespace carp_exec::fingerprint
