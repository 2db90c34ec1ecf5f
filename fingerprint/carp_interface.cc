#include "fingerprint/carp_interface.h"

namespace carp_exec::fingerprint {

std::optional<VrrpState> CarpInterfaceStatus::StateOfVhid(int vhid) const {
  for (const CarpVhid& entry : vhids) {
    if (entry.vhid == vhid) return entry.state;
  }
  return std::nullopt;
}

}  // namespace carp_exec::fingerprint
