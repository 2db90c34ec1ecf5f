#pragma once
// The BSD carp(4) tools as carp_exec runs them: the only place that spells the argv of
// `ifconfig` and `sysctl`, reads what they print, and knows the peer-independent rules a
// hand-over needs. Both sides use it: the observers (fingerprint/) to see the state, the
// demotion backends (driver/failover/) to change the counter and to refuse a setup in which a
// demotion cannot move the FailOver IP. Facts and file names: driver/failover/README.md,
// "What the BSD kernels do".
//
// Every call runs its tool through CommandRunner with `timeout`; an error quotes the command
// and ends with the fix. Nothing here keeps state; the functions are thread-safe when the
// runner is.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fingerprint/carp_interface.h"
#include "fingerprint/command_runner.h"

namespace carp_exec::fingerprint {

enum class CarpOs { kOpenBsd, kFreeBsd };

struct CarpTools {
  CommandRunner* runner = nullptr;  // not owned
  std::string ifconfig_path = "/sbin/ifconfig";
  std::string sysctl_path = "/sbin/sysctl";
  absl::Duration timeout = absl::Seconds(2);  // per command
};

// OpenBSD `ifconfig -g GROUP`: the group's demote counter (checks that the tool answered for
// GROUP).
absl::StatusOr<int> ReadGroupDemoteCount(const CarpTools& tools, absl::string_view group);
// OpenBSD `ifconfig -g GROUP carpdemote N` for delta = N > 0, `-carpdemote N` for delta = -N.
// |delta| must be 1..kOpenBsdMaxDemoteStep; the kernel refuses a counter outside 0..255.
absl::Status ChangeGroupDemoteCount(const CarpTools& tools, absl::string_view group, int delta);

// FreeBSD `sysctl -n net.inet.carp.demotion`.
absl::StatusOr<int> ReadFreeBsdDemotion(const CarpTools& tools);
// FreeBSD `sysctl net.inet.carp.demotion=DELTA`: the kernel adds the written value.
absl::Status AdjustFreeBsdDemotion(const CarpTools& tools, int delta);
// `sysctl -n net.inet.carp.preempt` (both BSDs): true when not 0.
absl::StatusOr<bool> ReadCarpPreempt(const CarpTools& tools);

// `ifconfig NAME`: one interface (checks that the tool described NAME).
absl::StatusOr<CarpInterfaceStatus> ReadCarpInterface(const CarpTools& tools, CarpOs os,
                                                      absl::string_view name);
// The interfaces with a carp vhid among `ifconfig GROUP` (OpenBSD: the group's members) or
// `ifconfig -a` (FreeBSD; `group` is ignored).
absl::StatusOr<std::vector<CarpInterfaceStatus>> ListCarpInterfaces(const CarpTools& tools,
                                                                    CarpOs os,
                                                                    absl::string_view group);
// `interfaces` (by name) when given, else ListCarpInterfaces.
absl::StatusOr<std::vector<CarpInterfaceStatus>> ReadCarpInterfaces(
    const CarpTools& tools, CarpOs os, const std::vector<std::string>& interfaces,
    absl::string_view group);

// OpenBSD: a demotion of GROUP reaches only the members of GROUP (sys/netinet/ip_carp.c sums
// the counters of the carp interface's own groups). OK when every interface lists GROUP in its
// "groups:" line; otherwise an error naming the interface and the group, and the fix.
absl::Status CheckGroupMembers(const std::vector<CarpInterfaceStatus>& interfaces,
                               absl::string_view group);

// FreeBSD: a demotion only raises the advertised advskew (capped at 240), and a BACKUP takes
// over a slower master only with net.inet.carp.preempt=1. OK when preempt is on here (it must
// be on the peer too: the README says so, nothing here can see the peer) and every vhid's own
// advskew is below 240 (at 240 or more a demotion changes nothing or even lowers the skew).
absl::Status CheckFreeBsdTakeover(bool preempt, const std::vector<CarpInterfaceStatus>& interfaces);

// The advskew a FreeBSD vhid advertises with `demotion` added (the kernel's cap applied).
int FreeBsdAdvertisedSkew(int advskew, int demotion);

}  // namespace carp_exec::fingerprint
