#include "fingerprint/backend_kind.h"

#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "fingerprint/carp_kernel.h"
#include "fingerprint/netlink_addresses.h"
#include "fingerprint/parse_text.h"

namespace carp_exec::fingerprint {

absl::string_view BackendKindName(BackendKind kind) {
  switch (kind) {
    case BackendKind::kOpenBsdCarp:
      return "openbsd-carp";
    case BackendKind::kFreeBsdCarp:
      return "freebsd-carp";
    case BackendKind::kKeepalived:
      return "keepalived";
    case BackendKind::kCommand:
      return "command";
  }
  return "unknown";
}

absl::StatusOr<BackendKind> ParseBackendKind(absl::string_view text) {
  for (BackendKind kind : {BackendKind::kOpenBsdCarp, BackendKind::kFreeBsdCarp,
                           BackendKind::kKeepalived, BackendKind::kCommand}) {
    if (text == BackendKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(QuoteForMessage(text), " is not a failover backend; ", kBackendKindChoices));
}

int MaxDemoteStep(BackendKind kind) {
  switch (kind) {
    case BackendKind::kOpenBsdCarp:
      return kOpenBsdMaxDemoteStep;
    case BackendKind::kFreeBsdCarp:
      return kFreeBsdMaxSkew;
    case BackendKind::kKeepalived:
      return kKeepalivedMaxDemotion;
    case BackendKind::kCommand:
      return std::numeric_limits<int32_t>::max();
  }
  return 1;
}

int DefaultDemoteBy(BackendKind kind) {
  if (kind == BackendKind::kFreeBsdCarp) return kFreeBsdMaxSkew;
  if (kind == BackendKind::kKeepalived) return kKeepalivedMaxDemotion;
  return 50;
}

// Here, not in node_observer.cc: the config validation (and its fuzz target) needs it without
// the observers.
bool KernelObservationAvailable(BackendKind backend) {
  switch (backend) {
    case BackendKind::kKeepalived:
      return KernelAddressesAvailable();
    case BackendKind::kOpenBsdCarp:
    case BackendKind::kFreeBsdCarp:
      return KernelCarpObservationAvailable(backend);
    case BackendKind::kCommand:
      return false;
  }
  return false;
}

}  // namespace carp_exec::fingerprint
