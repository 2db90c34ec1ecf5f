#pragma once
// The plugin's own configuration: the `config { ... }` block of `plugin "carp_exec"` in the
// Nomad client's agent config, sent by Nomad in SetConfig as cty msgpack.
//
// Defaults live in the field table in plugin_config.cc, which also produces the schema:
// decode empty bytes to get them (DecodePluginConfig("")).

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "driver/config/hclspec_builder.h"
#include "driver/config/value_parsers.h"
#include "driver/log/hclog.h"
#include "fingerprint/backend_kind.h"

namespace carp_exec::config {

// One enum for the whole plugin (fingerprint/backend_kind.h); this name is the config's view.
using FailoverBackend = fingerprint::BackendKind;

// "openbsd-carp", "freebsd-carp", "keepalived", "command".
absl::string_view FailoverBackendName(FailoverBackend backend);
absl::StatusOr<FailoverBackend> ParseFailoverBackend(absl::string_view text);

// The `failover { ... }` block. Present means failover is on for tasks with failover = true.
struct FailoverConfig {
  FailoverBackend backend = FailoverBackend::kOpenBsdCarp;  // required
  // openbsd-carp: the interface group whose demote counter we raise; required, and never
  // "carp" (rc's boot-time interlock group, see ValidateFailover).
  std::string group;
  std::vector<std::string> interfaces;  // observed; when not given: openbsd-carp ["carp0"], else []
  // Unset: fingerprint::DefaultDemoteBy (240 freebsd-carp, else 50); at most
  // fingerprint::MaxDemoteStep (openbsd 128, freebsd 240, keepalived 254).
  int demote_by = 0;
  std::vector<IpAddress> vip;         // addresses that must leave this node
  absl::Duration confirm_timeout;     // "10s", > 0
  absl::Duration poll_interval;       // "50ms", > 0 and < confirm_timeout
  absl::Duration settle;              // "0s"
  absl::Duration recover_stop_grace;  // "1m", > 0 and <= 1h: see FailoverCoordinator
  std::vector<std::string> confirm_command;
  std::string track_file;                    // keepalived: required, absolute
  std::string state_file;                    // keepalived: optional, absolute
  std::vector<std::string> demote_command;   // command backend: required
  std::vector<std::string> restore_command;  // command backend: required
  std::vector<std::string> state_command;    // command backend: required
  std::string ifconfig_path;                 // "/sbin/ifconfig"
  std::string sysctl_path;                   // "/sbin/sysctl"
  std::string ip_path;                       // "/sbin/ip" (Debian 12's iproute2 installs /sbin/ip)
  // openbsd-carp / freebsd-carp: "kernel" changes the counter in-process (SIOCSIFGATTR,
  // sysctlbyname: fingerprint/carp_kernel.h), "tool" runs ifconfig_path / sysctl_path.
  // Default: "kernel" in OpenBSD and FreeBSD builds, "tool" elsewhere.
  std::string demote_via;
  // keepalived (Linux builds), openbsd-carp (OpenBSD), freebsd-carp (FreeBSD): "kernel" reads
  // the state and addresses in-process (a netlink dump; SIOCGVH and getifaddrs), "tool" runs
  // ip_path / ifconfig_path. Default: "kernel" where this build can observe the backend
  // in-process (fingerprint::KernelObservationAvailable), else "tool". Unused by command.
  std::string observe_via;
  // keepalived: "resign" (default) demotes, then re-sends this node's own latest advertisement
  // with priority 0 so the peer takes over after its skew time (driver/failover/vrrp_resign.h);
  // "weighted" demotes only. Other backends: always "weighted".
  std::string handover;
  // keepalived with handover = "resign": the VRID to resign; 0 (unset) picks the one whose
  // advertisements list a `vip`, or the only one this node advertises.
  int vrid = 0;
};

struct PluginConfig {
  log::Level log_level = log::Level::kInfo;  // "info"
  std::string state_dir;  // "/var/db/carp_exec" on OpenBSD/FreeBSD, "/var/lib/carp_exec" else
  bool enabled = true;    // true (raw_exec's default is false; carp_exec exists to run tasks)
  std::vector<IdRange> denied_host_uids;    // none, like raw_exec
  std::vector<IdRange> denied_host_gids;    // none, like raw_exec
  std::vector<std::string> denied_envvars;  // globs
  std::optional<FailoverConfig> failover;   // absent: failover off
};

// Decodes SetConfig's msgpack_config. Empty bytes or nil mean "no config block": all
// defaults. Errors are InvalidArgument naming the option, the value and the fix, e.g.
// `plugin config: failover.demote_by must be a whole number from 1 to 128, got 500`.
absl::StatusOr<PluginConfig> DecodePluginConfig(absl::string_view msgpack);

// The schema returned by ConfigSchema. Built once; never changes.
const hclspec::Spec& PluginConfigSchema();

// The demote_via default for the platform this was built for.
absl::string_view DefaultDemoteVia();

// The state_dir default for the platform this was built for.
absl::string_view DefaultStateDir();

}  // namespace carp_exec::config
