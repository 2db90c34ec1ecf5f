#pragma once
// In-process access to the BSD demote counters, where the kernel offers it: no fork per
// demotion. The tool paths (fingerprint/carp_tools.h) stay the fallback, chosen with the
// plugin option `demote_via = "tool"`, and are what the fakes test; this file is compiled for
// real only on OpenBSD and FreeBSD (elsewhere every call is Unimplemented).
//
//  OpenBSD  SIOCGIFGATTR / SIOCSIFGATTR on an AF_INET datagram socket with struct ifgroupreq
//           (ifgr_name = group, ifgr_attrib.ifg_carp_demoted = the delta), as relayd and bgpd
//           do (usr.sbin/relayd/carp.c, carp_demote_get / carp_demote_ioctl). The kernel checks
//           the 0..255 range (sys/net/if.c); the 128-per-request limit is ifconfig's and is
//           kept here too so both paths behave alike.
//  FreeBSD  sysctlbyname("net.inet.carp.demotion"): reading gives the counter, writing an int
//           adds it (sys/netinet/ip_carp.c, carp_demote_adj_sysctl).

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace carp_exec::fingerprint {

// True when this build can change the counters in-process (an OpenBSD or FreeBSD build).
bool KernelDemotionAvailable();

// OpenBSD: the demote counter of `group`, and a change of it by `delta` (1..128 either way).
absl::StatusOr<int> KernelReadGroupDemoteCount(absl::string_view group);
absl::Status KernelChangeGroupDemoteCount(absl::string_view group, int delta);

// FreeBSD: net.inet.carp.demotion, and adding `delta` (1..240 either way) to it.
absl::StatusOr<int> KernelReadFreeBsdDemotion();
absl::Status KernelAdjustFreeBsdDemotion(int delta);

}  // namespace carp_exec::fingerprint
