#pragma once
// handover = "resign" for the keepalived backend: after the weighted demotion, this node sends
// one copy of its own latest VRRP advertisement with priority 0 ("the master resigns").
//
// Why it is fast: a BACKUP that receives priority 0 sets its Master_Down timer to Skew_Time,
// (256 - its priority) / 256 of the master's interval (RFC 5798 §6.4.2; keepalived
// vrrp.c vrrp_state_backup, VRRP_TIMER_SKEW in include/vrrp.h), instead of waiting out
// 3 × interval + Skew_Time. Why it is hitless: our keepalived stays MASTER at its demoted
// priority and keeps the VIP; it goes BACKUP (and deletes the VIP) only when the peer's first
// advertisement as MASTER arrives with the higher priority (vrrp.c vrrp_state_master_rx). Its
// own adverts at the demoted priority meanwhile are discarded by a preempting peer, which keeps
// the shortened timer. With multicast the copy is also looped back to our keepalived, which
// answers a priority-0 advert at once with its current priority (vrrp_state_master_rx): if the
// demotion has not reached it yet, that answer outranks the peer and resets the peer's timer,
// so the hand-over falls back to the weighted speed instead of flapping.
//
// OwnAdvertStore is the portable part (which captured packet to re-send, and when not to);
// VrrpResigner adds the Linux sockets: an AF_PACKET socket that sees this host's outgoing
// VRRP packets (bound to keepalived's interface when `interfaces` names one; a thread keeps the
// latest per destination and interface) and a raw IPv4 socket to send.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "driver/failover/vrrp_advert.h"
#include "fingerprint/backend_kind.h"

namespace carp_exec::failover {

// One advertisement of ours to re-send, and the interface it left by.
struct CapturedAdvert {
  std::vector<uint8_t> packet;  // from the IPv4 header
  VrrpAdvert advert;
  int ifindex = 0;
  absl::Time seen;  // monotonic (tasks::MonotonicNow)
};

// One IPv4 address of this host and the interface that holds it (host byte order).
struct LocalAddress {
  uint32_t address = 0;
  int ifindex = 0;
};

// Whether a resign can be chosen at all: with `vrid` unset the virtual router is found by an
// IPv4 VIP in its advertisements, so an IPv6-only or empty `vip` leaves nothing safe to pick
// (any IPv4 instance of this host could be the wrong one). The error names the fix.
absl::Status ResignSelectable(int vrid, const std::vector<uint32_t>& ipv4_vips);

// Keeps this node's latest advertisement per (VRID, destination, interface): one for
// multicast, one per unicast peer. Not thread-safe (VrrpResigner locks around it).
class OwnAdvertStore {
 public:
  // `vrid` 1..255 picks that virtual router; 0 picks the one whose advertisements list one of
  // `vips` (IPv4, host byte order), or the only one seen when `vips` is empty (tests; the
  // plugin refuses that case through ResignSelectable).
  OwnAdvertStore(int vrid, std::vector<uint32_t> vips) : vrid_(vrid), vips_(std::move(vips)) {}

  // An outgoing packet seen on `ifindex`. Kept (true) only when it is a well-formed
  // advertisement with TTL 255 (RFC 5798 §5.1.1.3; keepalived vrrp.c vrrp_check_packet drops
  // others) and priority above 0 for the virtual router we want; at most kMaxEntries are kept,
  // the oldest goes first. A priority-0 advertisement (keepalived leaving MASTER, or our own
  // resign) erases the entry for its (VRID, destination, interface): that node is no longer
  // MASTER there, so its last advertisement must not be re-sent.
  bool Offer(absl::Span<const uint8_t> packet, int ifindex, absl::Time now);

  // The packets to re-send with priority 0 for a demotion of `share`, or an error saying why
  // no resign may be sent: none fresh (seen within 3 × its interval, at least 300 ms: this node
  // is not MASTER), two virtual routers to choose from, the address owner (priority 255:
  // keepalived never lowers it, vrrp_track.c vrrp_set_effective_priority), or a demotion that
  // leaves our priority above 1 (the peer's priority is unknown here, so only priority 1 is
  // surely below it). A unicast copy is only sent once keepalived has advertised priority 1
  // itself (nothing loops it back to our keepalived); until then the error is Unavailable
  // (retry later), every other refusal is FailedPrecondition (final for this stop).
  // `local` is this host's IPv4 addresses: an entry counts only when its source address is held
  // by the interface it was seen on (a packet seen on a VLAN's, bond's or bridge's lower device
  // is dropped here); two interfaces left for one destination is refused as ambiguous.
  absl::StatusOr<std::vector<CapturedAdvert>> Pick(absl::Time now, int share,
                                                   absl::Span<const LocalAddress> local) const;

  // The latest kept advertisement, if any.
  std::optional<CapturedAdvert> Latest() const;

  static constexpr size_t kMaxEntries = 16;

 private:
  bool Wanted(const VrrpAdvert& advert) const;

  int vrid_;
  std::vector<uint32_t> vips_;
  std::map<std::tuple<int, uint32_t, int>, CapturedAdvert> latest_;  // (vrid, dest, ifindex)
};

class VrrpResigner {
 public:
  virtual ~VrrpResigner() = default;
  // Sends the priority-0 copies for a demotion of `share` and says what it sent
  // ("resigned VRRPv3 vrid 51 on eth0 to 224.0.0.18 (was priority 150)"; "resigned to 1 of 2
  // destinations: ...; failed: ..." when some sends failed); an error names why nothing was
  // sent (OwnAdvertStore::Pick: Unavailable means "not yet, ask again") or which send failed.
  virtual absl::StatusOr<std::string> Resign(int share) = 0;
  // For `check`: what a stop with a demotion of `share` would re-send now, or why nothing.
  virtual std::string Describe(int share) const = 0;
  // Whether any advertisement of ours has been kept yet (check waits for one).
  virtual bool HasSeenAdvert() const = 0;
};

// Opens the sockets and starts the capture thread. Needs root (CAP_NET_RAW); Linux only (other
// builds return Unimplemented). The error names the socket call, errno text and the fix.
// `interfaces` is the failover block's list: with exactly one, the capture socket is bound to
// it (only that interface is tapped); otherwise every interface is tapped and the one holding
// the advertisement's source address (restricted to `interfaces` when set) is used.
absl::StatusOr<std::unique_ptr<VrrpResigner>> OpenVrrpResigner(
    int vrid, std::vector<uint32_t> vips, std::vector<std::string> interfaces = {});

}  // namespace carp_exec::failover
