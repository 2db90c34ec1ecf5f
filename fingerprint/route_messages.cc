#include "fingerprint/route_messages.h"

#include <arpa/inet.h>
#include <sys/socket.h>  // AF_INET/AF_INET6: not from arpa/inet.h on the BSDs

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace carp_exec::fingerprint {
namespace {

constexpr int kRtaIfa = 0x20;
constexpr int kOpenBsdAfInet6 = 24;  // OpenBSD sys/sys/socket.h
constexpr int kFreeBsdAfInet6 = 28;  // FreeBSD sys/sys/socket.h
constexpr int kAfInet = 2;
constexpr size_t kLong = 8;

uint16_t U16(absl::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(b[at]) |
                               (static_cast<uint8_t>(b[at + 1]) << 8));
}
uint32_t U32(absl::string_view b, size_t at) {
  return static_cast<uint32_t>(U16(b, at)) | (static_cast<uint32_t>(U16(b, at + 2)) << 16);
}

// The RTA_IFA sockaddr among `sockaddrs`, as text; nullopt when absent or not an address.
std::optional<std::string> IfaAddress(CarpOs os, uint32_t addrs, absl::string_view sockaddrs) {
  size_t at = 0;
  for (int bit = 1; bit <= kRtaIfa; bit <<= 1) {
    if ((addrs & static_cast<uint32_t>(bit)) == 0) continue;
    if (at >= sockaddrs.size()) return std::nullopt;
    const size_t len = static_cast<uint8_t>(sockaddrs[at]);
    const size_t padded = len == 0 ? kLong : ((len + kLong - 1) / kLong) * kLong;
    if (bit == kRtaIfa) {
      if (len < 2 || at + len > sockaddrs.size()) return std::nullopt;
      const int family = static_cast<uint8_t>(sockaddrs[at + 1]);
      char text[INET6_ADDRSTRLEN] = {};
      if (family == kAfInet && len >= 8) {
        if (inet_ntop(AF_INET, sockaddrs.data() + at + 4, text, sizeof(text)) == nullptr) {
          return std::nullopt;
        }
        return std::string(text);
      }
      const int inet6 = os == CarpOs::kOpenBsd ? kOpenBsdAfInet6 : kFreeBsdAfInet6;
      if (family == inet6 && len >= 24) {
        if (inet_ntop(AF_INET6, sockaddrs.data() + at + 8, text, sizeof(text)) == nullptr) {
          return std::nullopt;
        }
        return std::string(text);
      }
      return std::nullopt;
    }
    at += padded;
  }
  return std::nullopt;
}

absl::StatusOr<RouteMessage> ParseOne(CarpOs os, absl::string_view m) {
  RouteMessage message;
  message.type = static_cast<uint8_t>(m[3]);
  const bool openbsd = os == CarpOs::kOpenBsd;
  const auto too_short = [&](size_t need) {
    return absl::InvalidArgumentError(absl::StrCat("route message type ", message.type, " of ",
                                                   m.size(), " bytes is shorter than ", need));
  };
  if (message.type == kRtmIfInfo) {
    const size_t link_at = openbsd ? 27 : 20;
    if (m.size() <= link_at) return too_short(link_at + 1);
    message.index = openbsd ? U16(m, 6) : U16(m, 12);
    message.link_state = static_cast<uint8_t>(m[link_at]);
  } else if (message.type == kRtmNewAddr || message.type == kRtmDelAddr) {
    const size_t header = openbsd ? 24 : 20;
    if (m.size() < header) return too_short(header);
    message.index = openbsd ? U16(m, 6) : U16(m, 12);
    const uint32_t addrs = openbsd ? U32(m, 12) : U32(m, 4);
    size_t start = header;
    if (openbsd) {
      start = U16(m, 4);  // ifam_hdrlen
      if (start < header || start > m.size()) {
        return absl::InvalidArgumentError(absl::StrCat("route message type ", message.type,
                                                       ": header length ", start, " is outside ",
                                                       header, "..", m.size()));
      }
    }
    message.address = IfaAddress(os, addrs, m.substr(start));
  }
  return message;
}

}  // namespace

bool RouteMessage::Relevant(CarpOs os) const {
  switch (type) {
    case kRtmIfInfo:
    case kRtmNewAddr:
    case kRtmDelAddr:
      return true;
    case kRtmAdd:
    case kRtmDelete:
      // FreeBSD has no carp interface: a vhid's state change shows as the add/delete of its
      // addresses' local routes (ip_carp.c, carp_addroute/carp_delroute).
      return os == CarpOs::kFreeBsd;
    case kOpenBsdRtmDesync:
      return os == CarpOs::kOpenBsd;
    default:
      return false;
  }
}

absl::StatusOr<std::vector<RouteMessage>> ParseRouteMessages(CarpOs os, absl::string_view bytes) {
  std::vector<RouteMessage> messages;
  size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < 4) {
      return absl::InvalidArgumentError(absl::StrCat(
          "route message at byte ", at, ": ", bytes.size() - at, " bytes left, a header needs 4"));
    }
    const size_t length = U16(bytes, at);
    if (length < 4 || length > bytes.size() - at) {
      return absl::InvalidArgumentError(absl::StrCat("route message at byte ", at, ": msglen ",
                                                     length, " with ", bytes.size() - at,
                                                     " bytes left"));
    }
    absl::string_view message = bytes.substr(at, length);
    at += length;
    if (static_cast<uint8_t>(message[2]) != kRtmVersion) continue;
    absl::StatusOr<RouteMessage> parsed = ParseOne(os, message);
    if (!parsed.ok()) return parsed.status();
    messages.push_back(*std::move(parsed));
  }
  return messages;
}

}  // namespace carp_exec::fingerprint
