#pragma once
// The redundancy state of a node as CARP (OpenBSD, FreeBSD) and VRRP (keepalived) report it,
// reduced to the five values the failover handshake and the fingerprint care about.

#include <optional>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace carp_exec::fingerprint {

enum class VrrpState { kUnknown, kInit, kBackup, kMaster, kFault };

// "MASTER", "BACKUP", "INIT", "FAULT", or "unknown" for kUnknown. These are the values of the
// fingerprint attribute driver.carp_exec.failover.state.
absl::string_view VrrpStateName(VrrpState state);

// Parses one state word, case-insensitively: MASTER, BACKUP, INIT, FAULT. keepalived's notify
// hook also reports STOP (the daemon is shutting down and has dropped its addresses) and, since
// 2.x, DELETED (the instance was removed on reload); both map to kFault, because in both cases
// this node is neither serving the VIP nor a BACKUP that proves the peer took over. Anything else
// (including "unknown" and the empty string) gives nullopt.
std::optional<VrrpState> ParseVrrpStateWord(absl::string_view word);

// The state of a node observed through several interfaces or vhids:
//   MASTER if any is MASTER (this node still answers for some address);
//   BACKUP only if all are BACKUP;
//   otherwise FAULT if any is FAULT, else INIT if any is INIT;
//   kUnknown for an empty list. kUnknown entries count as "not BACKUP": a mix of BACKUP and
//   unknown is kUnknown, so the handshake never confirms on partial information.
VrrpState AggregateVrrpStates(absl::Span<const VrrpState> states);

}  // namespace carp_exec::fingerprint
