#pragma once
// What `ifconfig` says about one interface's CARP configuration, shared by the OpenBSD and the
// FreeBSD parsers. Only observation: nothing here changes the node.

#include <optional>
#include <string>
#include <vector>

#include "fingerprint/vrrp_state.h"

namespace carp_exec::fingerprint {

struct CarpVhid {
  int vhid = 0;
  VrrpState state = VrrpState::kUnknown;
  int advbase = 0;
  int advskew = 0;
};

struct CarpInterfaceStatus {
  std::string name;  // "carp0", "vtnet1"
  std::vector<CarpVhid> vhids;
  std::vector<std::string> groups;  // from "groups:" (OpenBSD)
  struct Address {
    std::string ip;  // without prefix length or "%scope"
    // FreeBSD: the "vhid N" tag of the alias. OpenBSD: unset (the address belongs to the carp
    // interface, i.e. to all of its vhids).
    std::optional<int> vhid;
  };
  std::vector<Address> addresses;  // inet and inet6 lines, in output order
  std::string link_status;         // the "status:" value: OpenBSD master/backup/invalid
  std::string carppeer;            // OpenBSD "carppeer A.B.C.D"; FreeBSD 14+ "peer A.B.C.D"

  // The CARP state of vhid, or nullopt when the interface has no such vhid.
  std::optional<VrrpState> StateOfVhid(int vhid) const;
};

}  // namespace carp_exec::fingerprint
