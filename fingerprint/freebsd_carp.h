#pragma once
// Parsers for FreeBSD's carp(4) as ifconfig(8) and sysctl(8) print it. Pure functions with the
// same guarantees as the OpenBSD ones (fingerprint/openbsd_carp.h).

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fingerprint/carp_interface.h"

namespace carp_exec::fingerprint {

// `ifconfig vtnet1`: exactly one interface. FreeBSD has no carpN interface: the VIP is an alias
// tagged "vhid N" on the physical interface, and each vhid prints
//   \tcarp: MASTER vhid 1 advbase 1 advskew 0
// optionally followed (FreeBSD 14+) by "\t      peer 224.0.0.18 peer6 ff02::12".
// An interface without carp gives an empty `vhids`.
absl::StatusOr<CarpInterfaceStatus> ParseFreeBsdIfconfig(absl::string_view output);

// `ifconfig` without arguments (all interfaces). Empty output gives an empty list.
absl::StatusOr<std::vector<CarpInterfaceStatus>> ParseFreeBsdIfconfigList(absl::string_view output);

// `sysctl net.inet.carp.demotion` ("net.inet.carp.demotion: 240") or `sysctl -n ...` ("240").
absl::StatusOr<int> ParseFreeBsdDemotion(absl::string_view output);

}  // namespace carp_exec::fingerprint
