#pragma once
// Parsers for OpenBSD's carp(4) as ifconfig(8) prints it. Pure functions: they never run
// anything, never crash on any input, and reject what they do not understand with an error that
// quotes the offending line.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fingerprint/carp_interface.h"

namespace carp_exec::fingerprint {

// `ifconfig carpN`: exactly one interface. Understands both carp line forms:
//   \tcarp: MASTER carpdev vio0 vhid 1 advbase 1 advskew 0 [carppeer 192.0.2.11]
//   \tcarp: carpdev vio0 advbase 1 balancing ip      followed by one line per carpnode:
//   \t\tstate MASTER vhid 3 advskew 0
// A carp interface without a vhid prints no carp line; that gives an empty `vhids`, not an error.
// Lines the parser does not need (flags, lladdr, media, description, ...) are skipped.
absl::StatusOr<CarpInterfaceStatus> ParseOpenBsdIfconfig(absl::string_view output);

// `ifconfig GROUP` (OpenBSD prints every member of an interface group) or any output with
// several interfaces. Empty output gives an empty list.
absl::StatusOr<std::vector<CarpInterfaceStatus>> ParseOpenBsdIfconfigList(absl::string_view output);

// `ifconfig -g GROUP`: "GROUP: carp demote count N".
struct OpenBsdGroupDemote {
  std::string group;
  int demote_count = 0;
};
absl::StatusOr<OpenBsdGroupDemote> ParseOpenBsdGroupDemote(absl::string_view output);
// Same, only the count.
absl::StatusOr<int> ParseOpenBsdDemoteCount(absl::string_view output);

}  // namespace carp_exec::fingerprint
