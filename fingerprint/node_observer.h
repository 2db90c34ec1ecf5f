#pragma once
// Read-only observation of this node's CARP/VRRP state and of whether it holds the FailOver IP.
// Used by the driver's Fingerprint (state, demoted, health) and by the failover handshake, which
// polls Observe() until the node is BACKUP and holds none of the VIPs.
//
// Backends and what "holds the VIP" means for each:
//  openbsd-carp  `ifconfig IFACE` per interface (or `ifconfig GROUP` when no interface is
//                configured: every member of the group). A BACKUP keeps the VIP configured on
//                carpN with its link down, so an address counts as held only when its carp
//                interface has a MASTER vhid. Demote count from `ifconfig -g GROUP`.
//  freebsd-carp  `ifconfig IFACE` per interface (or `ifconfig` and every interface with a carp
//                vhid). An alias tagged "vhid N" is held iff vhid N is MASTER. Demote count is
//                the global `sysctl net.inet.carp.demotion`.
//  keepalived    the kernel's addresses: a netlink RTM_GETADDR dump in-process
//                (observe_in_kernel, fingerprint/netlink_addresses.h) or `ip -o addr show
//                [dev IFACE]`; all interfaces when none is configured. A VIP is held iff the
//                kernel has it on some observed interface. Kernel truth first: with vips
//                configured, a held VIP means MASTER whatever the state file says, and none
//                held means BACKUP unless the (fresh) state file says FAULT or INIT, which are
//                kept; a file still saying MASTER then means "moved, the notify hook has not
//                run yet" (keepalived removes the addresses before it runs the hooks). Without
//                vips the state is the state_file word. With neither a fresh file nor vips the
//                state cannot tell FAULT from BACKUP, so set state_file when FAULT matters. No
//                demote count.
//  command       state = first word of `state_command`'s stdout. There is no address check of
//                its own: holds_vip mirrors state == MASTER and vips_held lists the configured
//                vips then. Use confirm_command for positive proof. No demote count.
// With no `vips` configured, the CARP backends report every address of a MASTER interface/vhid
// (except IPv6 link-local) as held; keepalived then cannot know what is a VIP and reports none.
// Observers are thread-safe when their CommandRunner is.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fingerprint/backend_kind.h"
#include "fingerprint/command_runner.h"
#include "fingerprint/vrrp_state.h"

namespace carp_exec::fingerprint {

struct Observation {
  VrrpState state = VrrpState::kUnknown;  // aggregated, see AggregateVrrpStates
  bool holds_vip = false;                 // !vips_held.empty()
  std::vector<std::string> vips_held;     // vips held here, canonical text (2001:db8::1)
  std::optional<int> demote_count;        // openbsd: group counter; freebsd: global demotion
  // One line for task events and logs, e.g. "carp0 BACKUP vhid 1; 192.0.2.10 not held".
  std::string detail;
};

class NodeObserver {
 public:
  virtual ~NodeObserver() = default;

  // Runs the backend's read-only commands once and reports. An error means the node could not be
  // observed (tool failed, timed out, output not understood); the message names the command and
  // the fix. Never changes the node.
  virtual absl::StatusOr<Observation> Observe() = 0;

  // OK when failover observation can work here: the tools are executable, the interfaces and
  // the group exist (and are carp interfaces / carry a vhid), the state command runs. The error
  // message is the fingerprint's UNHEALTHY description, e.g.
  // `failover: ifconfig_path "/sbin/ifconfig" is not executable (no such file); set
  // ifconfig_path to the ifconfig binary`.
  virtual absl::Status CheckUsable() = 0;
};

struct ObserverOptions {
  BackendKind backend = BackendKind::kOpenBsdCarp;
  std::string group;                       // openbsd-carp: the demote group ("carp", "edge")
  std::vector<std::string> interfaces;     // empty: derived per backend (see above)
  std::vector<std::string> vips;           // addresses that must leave the node; "/prefix" ignored
  std::string ifconfig_path;               // default /sbin/ifconfig
  std::string sysctl_path;                 // default /sbin/sysctl
  std::string ip_path;                     // default /sbin/ip
  std::string state_file;                  // keepalived: notify-hook state file, optional
  std::vector<std::string> state_command;  // command backend: prints MASTER/BACKUP/...
  // Read in-process, no fork (KernelObservationAvailable): keepalived a netlink dump instead of
  // ip_path; openbsd-carp / freebsd-carp SIOCGVH and getifaddrs instead of ifconfig_path (and
  // the demote counter in-process). The plugin config's observe_via = "kernel" sets it.
  bool observe_in_kernel = false;
  absl::Duration command_timeout = absl::Seconds(2);  // per command run
  // keepalived: a state file older than this is stale and ignored (state is derived instead).
  // Zero (the default) means no age limit: notify hooks write only on transitions, so the age of
  // a correct file is the time since the last transition.
  absl::Duration state_file_max_age = absl::ZeroDuration();
  // Clock for state_file_max_age; absl::Now when unset. Tests inject a fixed time.
  std::function<absl::Time()> now;
};

// KernelObservationAvailable(backend): fingerprint/backend_kind.h.

// Validates `options` (what the backend needs is set: group for openbsd-carp,
// vips or state_file for keepalived, state_command for command) and returns an observer that
// runs its commands through `runner`. `runner` is not owned and must outlive the observer.
absl::StatusOr<std::unique_ptr<NodeObserver>> MakeNodeObserver(const ObserverOptions& options,
                                                               CommandRunner* runner);

}  // namespace carp_exec::fingerprint
