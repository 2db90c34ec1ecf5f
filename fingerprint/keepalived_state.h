#pragma once
// Parser for the state file a keepalived notify hook writes (see the keepalived example in
// examples/). Pure; never crashes on any input.

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fingerprint/vrrp_state.h"

namespace carp_exec::fingerprint {

// The first non-blank line decides; its first word is the state, words after it are ignored.
// Accepted forms:
//   "MASTER"                          (the word alone, as the test bed's hook writes it)
//   "INSTANCE VI_1 MASTER 150"        (keepalived's notify arguments written verbatim;
//   "GROUP G1 BACKUP"                  the third word is the state)
// State words as ParseVrrpStateWord (STOP and DELETED are kFault). Empty contents or anything
// else is an error that quotes the line.
absl::StatusOr<VrrpState> ParseStateFile(absl::string_view contents);

}  // namespace carp_exec::fingerprint
