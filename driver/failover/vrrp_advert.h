#pragma once
// VRRP advertisements over IPv4 (RFC 3768 version 2, RFC 5798 version 3): read one from raw
// bytes, and turn this node's own advertisement into a "master resigns" one (priority 0).
//
// Why a copy of our own packet: keepalived's receive checks (keepalived/vrrp/vrrp.c,
// vrrp_check_packet) compare the version, the VRID, the advert interval (v2: must equal the
// receiver's, else the packet is dropped), the address list, the v2 auth data, TTL 255 and, for
// v3, a checksum over a pseudo-header whose destination is the unicast peer or, in keepalived's
// unicast checksum compatibility mode, the multicast group. A copy of what keepalived itself
// sent carries every one of those as the peer already accepts them; only the priority byte
// changes, and the checksum is updated for that one 16-bit word (RFC 1624), so it stays right
// whichever pseudo-header keepalived used.
//
// Pure functions on byte spans: no sockets, no allocation beyond the result.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace carp_exec::failover {

inline constexpr uint8_t kIpProtoVrrp = 112;  // IANA; RFC 5798 §5.1.1.4
inline constexpr uint8_t kIpProtoAh = 51;     // keepalived's v2 IPsec-AH authentication
inline constexpr uint8_t kVrrpTtl = 255;      // RFC 5798 §5.1.1.3: a receiver drops any other TTL
// The largest packet read or built: an IPv4 header with options (60) + VRRP header (8) + 255
// addresses (1020) + the v2 auth data (8), rounded up.
inline constexpr size_t kMaxVrrpPacket = 1100;

// What an IPv4 VRRP advertisement says. Addresses are in host byte order.
struct VrrpAdvert {
  int version = 0;   // 2 or 3
  int vrid = 0;      // 1..255
  int priority = 0;  // 0..255; 0 = the master resigns, 255 = address owner
  // v2: seconds (the 8-bit Adver Int); v3: centiseconds (the 12-bit Max Adver Int).
  int advert_interval = 0;
  int v2_auth_type = 0;  // v2 only: 0 none, 1 simple text password (keepalived's PASS)
  uint32_t source = 0;
  uint32_t destination = 0;
  int ttl = 0;
  std::vector<uint32_t> addresses;
  // The interval as a duration in milliseconds (v2 seconds × 1000, v3 centiseconds × 10).
  int AdvertIntervalMs() const {
    return version == 2 ? advert_interval * 1000 : advert_interval * 10;
  }
  // "VRRPv3 vrid 51 priority 150 from 10.231.0.11 to 224.0.0.18, interval 100 ms, 1 address".
  std::string Describe() const;
};

// Reads an IPv4 packet (from its IP header, no link-layer header) holding one VRRP
// advertisement. Refuses, with an error naming the field and value, anything that is not a
// well-formed advertisement keepalived would send: short or inconsistent lengths, fragments,
// another protocol (IPsec-AH is named: keepalived's AH authentication cannot be re-sent),
// version other than 2/3, type other than 1, bytes after the addresses and v2 auth data
// (keepalived's authentication trailer, which signs the priority), or a bad checksum. Never
// reads outside `packet`.
absl::StatusOr<VrrpAdvert> ParseVrrpAdvert(absl::Span<const uint8_t> packet);

// The same packet with priority 0 and its VRRP checksum updated for that change; the IP header
// (source, destination, TTL 255) and everything else are kept byte for byte. Refuses what
// ParseVrrpAdvert refuses, and an advertisement whose priority is already 0.
absl::StatusOr<std::vector<uint8_t>> MakeResignPacket(absl::Span<const uint8_t> own_advert);

// The Internet checksum (RFC 1071) of `bytes` (odd length padded with a zero byte) with
// `initial` added to the sum first (a pseudo-header's sum); returns the folded complement.
uint16_t InternetChecksum(absl::Span<const uint8_t> bytes, uint32_t initial = 0);

}  // namespace carp_exec::failover
