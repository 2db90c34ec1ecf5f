#include "fingerprint/vrrp_state.h"

#include "absl/strings/match.h"

namespace carp_exec::fingerprint {

absl::string_view VrrpStateName(VrrpState state) {
  switch (state) {
    case VrrpState::kInit:
      return "INIT";
    case VrrpState::kBackup:
      return "BACKUP";
    case VrrpState::kMaster:
      return "MASTER";
    case VrrpState::kFault:
      return "FAULT";
    case VrrpState::kUnknown:
      break;
  }
  return "unknown";
}

std::optional<VrrpState> ParseVrrpStateWord(absl::string_view word) {
  if (absl::EqualsIgnoreCase(word, "MASTER")) return VrrpState::kMaster;
  if (absl::EqualsIgnoreCase(word, "BACKUP")) return VrrpState::kBackup;
  if (absl::EqualsIgnoreCase(word, "INIT")) return VrrpState::kInit;
  if (absl::EqualsIgnoreCase(word, "FAULT")) return VrrpState::kFault;
  // keepalived notify: the daemon stopped, or the instance was deleted on reload. Either way
  // the addresses are gone without a BACKUP that proves the peer took them.
  if (absl::EqualsIgnoreCase(word, "STOP")) return VrrpState::kFault;
  if (absl::EqualsIgnoreCase(word, "DELETED")) return VrrpState::kFault;
  return std::nullopt;
}

VrrpState AggregateVrrpStates(absl::Span<const VrrpState> states) {
  if (states.empty()) return VrrpState::kUnknown;
  bool any_fault = false, any_init = false, any_unknown = false;
  for (VrrpState state : states) {
    switch (state) {
      case VrrpState::kMaster:
        return VrrpState::kMaster;
      case VrrpState::kFault:
        any_fault = true;
        break;
      case VrrpState::kInit:
        any_init = true;
        break;
      case VrrpState::kUnknown:
        any_unknown = true;
        break;
      case VrrpState::kBackup:
        break;
    }
  }
  if (any_fault) return VrrpState::kFault;
  if (any_init) return VrrpState::kInit;
  if (any_unknown) return VrrpState::kUnknown;
  return VrrpState::kBackup;
}

}  // namespace carp_exec::fingerprint
