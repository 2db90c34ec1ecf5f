#pragma once
// Parser for iproute2's one-line address listing, the kernel's own answer to "is the VIP on
// this node?" on Linux (keepalived). Pure; never crashes on any input.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace carp_exec::fingerprint {

struct IpAddressEntry {
  std::string interface;  // "eth0" (a "veth0@if5" name is kept as printed, minus "@if5")
  std::string family;     // "inet" or "inet6"
  std::string address;    // local address without "/prefix"
};

// `ip -o addr show [dev X]` or `ip -4 -o addr show dev X`: one entry per address line, e.g.
//   2: eth0    inet 10.231.0.10/24 scope global secondary eth0\       valid_lft forever ...
// For point-to-point lines ("inet 10.0.0.1 peer 10.0.0.2/32") the local address is returned.
// Link-layer lines ("link/ether ...", from `ip -o link`) are rejected. Empty output (no
// addresses) gives an empty list.
absl::StatusOr<std::vector<IpAddressEntry>> ParseIpAddrOnelineEntries(absl::string_view output);

// The addresses of ParseIpAddrOnelineEntries, in output order.
absl::StatusOr<std::vector<std::string>> ParseIpAddrOneline(absl::string_view output);

}  // namespace carp_exec::fingerprint
