#pragma once
// Parser for BSD routing-socket (PF_ROUTE) messages, the bytes a route socket reads, laid out
// as the kernels fill them (little-endian, LP64: amd64 and arm64):
//
//   every message   u_short msglen; u_char version (RTM_VERSION 5); u_char type
//   OpenBSD if_msghdr  (sys/net/if.h)  ...u_short hdrlen @4, index @6, tableid @8, pad1, pad2,
//                      int addrs @12, flags @16, xflags @20, struct if_data @24 whose 4th
//                      byte (ifi_link_state) is @27
//   OpenBSD ifa_msghdr (sys/net/if.h)  ...u_short hdrlen @4, index @6, tableid @8, pad1, pad2,
//                      int addrs @12, flags @16, metric @20; sockaddrs start at hdrlen
//   FreeBSD if_msghdr  (sys/net/if.h)  ...int addrs @4, flags @8, u_short index @12, spare @14,
//                      struct if_data @16 whose 5th byte (ifi_link_state) is @20
//   FreeBSD ifa_msghdr (sys/net/if.h)  ...int addrs @4, flags @8, u_short index @12, spare @14,
//                      int metric @16; sockaddrs start at 20
//
// Message types (both sys/net/route.h): RTM_ADD 1, RTM_DELETE 2, RTM_NEWADDR 0xc,
// RTM_DELADDR 0xd, RTM_IFINFO 0xe; OpenBSD RTM_DESYNC 0x10 (the socket overflowed). The
// sockaddrs of an address message follow in RTA_* bit order, each padded to a multiple of
// sizeof(long) (8), an sa_len of 0 taking 8 bytes; the address is the RTA_IFA (0x20) one.
// Pure function: never crashes on any input, rejects truncated or inconsistent messages.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fingerprint/carp_tools.h"

namespace carp_exec::fingerprint {

inline constexpr int kRtmVersion = 5;
inline constexpr int kRtmAdd = 0x1;
inline constexpr int kRtmDelete = 0x2;
inline constexpr int kRtmNewAddr = 0xc;
inline constexpr int kRtmDelAddr = 0xd;
inline constexpr int kRtmIfInfo = 0xe;
inline constexpr int kOpenBsdRtmDesync = 0x10;

struct RouteMessage {
  int type = 0;
  int index = 0;  // interface index (if/ifa messages), else 0
  std::optional<int>
      link_state;  // RTM_IFINFO: ifi_link_state (OpenBSD DOWN 2 UP 4, FreeBSD DOWN 1 UP 2)
  std::optional<std::string> address;  // RTM_NEWADDR/DELADDR: the RTA_IFA address, canonical text

  // Whether a hand-over's confirmation should look again: link state or address changes, a
  // (FreeBSD) local-route change of a carp address, or lost messages (desync).
  bool Relevant(CarpOs os) const;
};

// Every message in `bytes` (one read() may return several). Messages of another RTM_VERSION
// are skipped; a message whose msglen is below 4 or runs past the end is an error.
absl::StatusOr<std::vector<RouteMessage>> ParseRouteMessages(CarpOs os, absl::string_view bytes);

}  // namespace carp_exec::fingerprint
