#pragma once
// The redundancy daemons carp_exec can drive, named once for the whole plugin, and the limits
// each kernel or daemon puts on one demotion step. The config (driver/config), the observers
// (fingerprint/) and the backends that act (driver/failover) all use these; nothing else
// spells a backend name or a step limit.

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace carp_exec::fingerprint {

enum class BackendKind { kOpenBsdCarp, kFreeBsdCarp, kKeepalived, kCommand };

// "openbsd-carp", "freebsd-carp", "keepalived", "command".
absl::string_view BackendKindName(BackendKind kind);
// What an error about a backend name should offer.
inline constexpr absl::string_view kBackendKindChoices =
    "use \"openbsd-carp\", \"freebsd-carp\", \"keepalived\" or \"command\"";
// The inverse; an error names the value and lists the four names.
absl::StatusOr<BackendKind> ParseBackendKind(absl::string_view text);

// OpenBSD sbin/ifconfig/ifconfig.c (setgroupattribs) accepts 0..128 per carpdemote command.
inline constexpr int kOpenBsdMaxDemoteStep = 128;
// OpenBSD sys/net/if.c (if_setgroupattribs) keeps a group's counter within 0..255 (EINVAL
// otherwise); sys/netinet/ip_carp.c caps the advertised sum of all groups at 255 too.
inline constexpr int kOpenBsdMaxDemoteCount = 255;
// FreeBSD sys/netinet/ip_carp.c: the demotion is added to advskew and the sum is capped at
// CARP_MAXSKEW (240) before it is advertised.
inline constexpr int kFreeBsdMaxSkew = 240;
// VRRP priorities 1..254 for a backup (RFC 5798 5.2.4): the widest possible priority drop.
inline constexpr int kVrrpPrioritySpan = 254;
// keepalived puts an instance in FAULT (VIP deleted at once: a hand-over with a gap) when a
// tracked file's value x weight reaches -254 (keepalived trackers/track_file.c,
// process_update_vrrp_track_file_status), so a weight -1 demotion stops at 253; keepalived
// clamps the priority it then advertises at 1 (vrrp_track.c, vrrp_set_effective_priority).
inline constexpr int kKeepalivedMaxDemotion = 253;

// The largest demotion one step may carry: 128 (OpenBSD), 240 (FreeBSD: more changes nothing
// the peer sees), 253 (keepalived: 254 is its FAULT), INT32_MAX for `command` (the user's command
// decides).
int MaxDemoteStep(BackendKind kind);

// demote_by when the config does not set it. FreeBSD's is 240 so the demoted node advertises
// the largest skew there is and any preempting peer with advskew below 240 takes over;
// keepalived's is 253, so the demoted node advertises priority 1, below any peer (what
// handover = "resign" requires); the others keep 50 (OpenBSD: any demote count above the peer's
// moves the master, whatever the advskews).
int DefaultDemoteBy(BackendKind kind);

// True when this build can observe `backend` in-process (ObserverOptions::observe_in_kernel):
// keepalived on Linux (netlink), openbsd-carp on OpenBSD and freebsd-carp on FreeBSD (SIOCGVH
// and getifaddrs: fingerprint/carp_kernel.h).
bool KernelObservationAvailable(BackendKind backend);

}  // namespace carp_exec::fingerprint
