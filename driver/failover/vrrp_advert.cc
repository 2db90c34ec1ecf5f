#include "driver/failover/vrrp_advert.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace carp_exec::failover {
namespace {

constexpr size_t kIpMinHeader = 20;
constexpr size_t kVrrpHeader = 8;  // RFC 5798 §5.1: version/type, VRID, priority, count, ...
constexpr size_t kV2AuthData = 8;  // RFC 3768 §5.3.10: always present in v2
constexpr uint32_t kVrrpGroup = 0xe0000012;  // 224.0.0.18, RFC 5798 §5.1.1.2

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

std::string Ipv4Text(uint32_t host_order) {
  return absl::StrCat(host_order >> 24, ".", (host_order >> 16) & 0xff, ".",
                      (host_order >> 8) & 0xff, ".", host_order & 0xff);
}

// Sum of the v3 pseudo-header (RFC 5798 §5.2.8: source, destination, zero, protocol, length).
uint32_t PseudoHeaderSum(uint32_t source, uint32_t destination, size_t vrrp_length) {
  return (source >> 16) + (source & 0xffff) + (destination >> 16) + (destination & 0xffff) +
         kIpProtoVrrp + static_cast<uint32_t>(vrrp_length);
}

absl::Status Refuse(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("VRRP packet: ", field, " ", what));
}

// Where the VRRP message starts and how long it is, with every length checked.
struct Layout {
  size_t ip_header = 0;
  size_t vrrp_length = 0;
};

absl::StatusOr<Layout> CheckLayout(absl::Span<const uint8_t> packet) {
  if (packet.size() < kIpMinHeader) {
    return Refuse("length", absl::StrCat(packet.size(), " is shorter than an IPv4 header (20)"));
  }
  if (packet.size() > kMaxVrrpPacket) {
    return Refuse("length", absl::StrCat(packet.size(), " exceeds the largest advertisement (",
                                         kMaxVrrpPacket, ")"));
  }
  const uint8_t* p = packet.data();
  if ((p[0] >> 4) != 4) return Refuse("IP version", absl::StrCat(p[0] >> 4, " is not 4"));
  Layout layout;
  layout.ip_header = size_t{p[0] & 0x0fu} * 4;
  const size_t total = Be16(p + 2);
  if (layout.ip_header < kIpMinHeader || layout.ip_header > packet.size()) {
    return Refuse("IP header length", absl::StrCat(layout.ip_header, " does not fit the packet (",
                                                   packet.size(), " bytes)"));
  }
  // Ethernet pads short frames (keepalived allows for it too: keepalived/vrrp/vrrp.c,
  // vrrp_check_packet): trust the IP total length.
  if (total < layout.ip_header + kVrrpHeader || total > packet.size()) {
    return Refuse("IP total length",
                  absl::StrCat(total, " does not fit the packet (", packet.size(), " bytes)"));
  }
  if ((Be16(p + 6) & 0x3fff) != 0) return Refuse("IP flags/offset", "say it is a fragment");
  if (p[9] == kIpProtoAh) {
    return Refuse("IP protocol",
                  "51 (IPsec-AH): keepalived's AH authentication signs every advertisement, so "
                  "it cannot be re-sent; use handover = \"weighted\"");
  }
  if (p[9] != kIpProtoVrrp) return Refuse("IP protocol", absl::StrCat(p[9], " is not VRRP (112)"));
  layout.vrrp_length = total - layout.ip_header;
  return layout;
}

}  // namespace

uint16_t InternetChecksum(absl::Span<const uint8_t> bytes, uint32_t initial) {
  uint64_t sum = initial;
  size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += Be16(bytes.data() + i);
  if (i < bytes.size()) sum += uint32_t{bytes[i]} << 8;
  while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

std::string VrrpAdvert::Describe() const {
  return absl::StrCat("VRRPv", version, " vrid ", vrid, " priority ", priority, " from ",
                      Ipv4Text(source), " to ", Ipv4Text(destination), ", interval ",
                      AdvertIntervalMs(), " ms, ", addresses.size(),
                      addresses.size() == 1 ? " address" : " addresses");
}

absl::StatusOr<VrrpAdvert> ParseVrrpAdvert(absl::Span<const uint8_t> packet) {
  absl::StatusOr<Layout> layout = CheckLayout(packet);
  if (!layout.ok()) return layout.status();
  const uint8_t* ip = packet.data();
  const uint8_t* v = ip + layout->ip_header;
  VrrpAdvert advert;
  advert.version = v[0] >> 4;
  if (advert.version != 2 && advert.version != 3) {
    return Refuse("version", absl::StrCat(advert.version, " is neither 2 nor 3"));
  }
  if ((v[0] & 0x0f) != 1) {
    return Refuse("type", absl::StrCat(v[0] & 0x0f, " is not 1 (advertisement)"));
  }
  advert.vrid = v[1];
  if (advert.vrid == 0) return Refuse("VRID", "0 is not a virtual router (1..255)");
  advert.priority = v[2];
  const size_t count = v[3];
  const size_t expected = kVrrpHeader + count * 4 + (advert.version == 2 ? kV2AuthData : size_t{0});
  if (layout->vrrp_length != expected) {
    return Refuse(
        "length",
        absl::StrCat(layout->vrrp_length, " bytes of VRRP, but ", count, " addresses make ",
                     expected,
                     layout->vrrp_length > expected
                         ? " (an authentication trailer? it signs the priority, so the packet "
                           "cannot be re-sent; use handover = \"weighted\")"
                         : ""));
  }
  if (advert.version == 2) {
    advert.v2_auth_type = v[4];
    advert.advert_interval = v[5];
  } else {
    advert.advert_interval = Be16(v + 4) & 0x0fff;
  }
  advert.ttl = ip[8];
  advert.source = Be32(ip + 12);
  advert.destination = Be32(ip + 16);
  advert.addresses.reserve(count);
  for (size_t i = 0; i < count; ++i) advert.addresses.push_back(Be32(v + kVrrpHeader + 4 * i));

  absl::Span<const uint8_t> message(v, layout->vrrp_length);
  bool valid = false;
  if (advert.version == 2) {
    valid = InternetChecksum(message) == 0;
  } else {
    // keepalived's unicast checksum compatibility mode puts the group, not the peer, in the
    // pseudo-header (vrrp.c, unicast_chksum_compat): accept either.
    valid =
        InternetChecksum(message,
                         PseudoHeaderSum(advert.source, advert.destination, message.size())) == 0 ||
        InternetChecksum(message, PseudoHeaderSum(advert.source, kVrrpGroup, message.size())) == 0;
  }
  if (!valid) {
    return Refuse("checksum", absl::StrCat("0x", absl::Hex(Be16(v + 6), absl::kZeroPad4),
                                           " does not match the ",
                                           advert.version == 3 ? "v3" : "v2", " message"));
  }
  return advert;
}

absl::StatusOr<std::vector<uint8_t>> MakeResignPacket(absl::Span<const uint8_t> own_advert) {
  absl::StatusOr<VrrpAdvert> advert = ParseVrrpAdvert(own_advert);
  if (!advert.ok()) return advert.status();
  if (advert->priority == 0) return Refuse("priority", "is already 0");
  std::vector<uint8_t> out(own_advert.begin(), own_advert.begin() + (Be16(own_advert.data() + 2)));
  uint8_t* v = out.data() + size_t{out[0] & 0x0fu} * 4;
  // RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), for the 16-bit word holding the priority (high
  // byte) and the address count (low byte).
  const uint32_t old_word = Be16(v + 2);
  const uint32_t new_word = v[3];
  uint32_t sum = (~uint32_t{Be16(v + 6)} & 0xffff) + (~old_word & 0xffff) + new_word;
  while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
  const uint16_t checksum = static_cast<uint16_t>(~sum & 0xffff);
  v[2] = 0;
  v[6] = static_cast<uint8_t>(checksum >> 8);
  v[7] = static_cast<uint8_t>(checksum & 0xff);
  return out;
}

}  // namespace carp_exec::failover
