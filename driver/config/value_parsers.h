#pragma once
// Parsers for the text values inside our configs: id ranges, IP addresses, host:port,
// http URLs. Each error message names the text and says how to write it.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace carp_exec::config {

// Inclusive range of uids or gids.
struct IdRange {
  uint32_t first = 0;
  uint32_t last = 0;
  bool operator==(const IdRange&) const = default;
};

// Parses raw_exec's syntax: comma-separated ids or inclusive ranges, "0-100,600". Spaces
// around items are ignored; "" is no ranges.
// Membership is tasks::IdRanges::Contains (built with IdRanges::FromConfig).
absl::StatusOr<std::vector<IdRange>> ParseIdRanges(absl::string_view text);

// An IPv4 or IPv6 address (no prefix length, no zone).
struct IpAddress {
  bool is_v6 = false;
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4 bytes
  std::string text;                 // canonical form (inet_ntop)
  bool operator==(const IpAddress& other) const {
    return is_v6 == other.is_v6 && bytes == other.bytes;
  }
};
absl::StatusOr<IpAddress> ParseIpAddress(absl::string_view text);

// "host:port" or "[v6]:port"; host is a name or an address, port 1..65535.
struct HostPort {
  std::string host;  // without brackets
  uint16_t port = 0;
  bool operator==(const HostPort&) const = default;
};
absl::StatusOr<HostPort> ParseHostPort(absl::string_view text);

// "http://host:port[/path][?query]" (port required; https is not offered: the check runs
// against the task on this node).
struct HttpProbeUrl {
  std::string url;  // as written
  HostPort address;
  std::string target;  // path and query, "/" when absent
};
absl::StatusOr<HttpProbeUrl> ParseHttpProbeUrl(absl::string_view text);

// Checks that return the text unchanged when it is acceptable, so they can serve as
// ParsedField parsers.
// An absolute path ("/var/lib/carp_exec"); relative paths would depend on the plugin's cwd.
absl::StatusOr<std::string> CheckAbsolutePath(absl::string_view text);
// "" (not set) or an absolute path.
absl::StatusOr<std::string> CheckOptionalAbsolutePath(absl::string_view text);
// A network interface name ("carp0", "eth0"): 1..15 bytes of letters, digits, '.', '_', '-'.
absl::StatusOr<std::string> CheckInterfaceName(absl::string_view text);
// An OpenBSD interface group name ("carp"): like an interface name, but it must not end in a
// digit (ifconfig refuses such groups).
absl::StatusOr<std::string> CheckInterfaceGroup(absl::string_view text);

}  // namespace carp_exec::config
