// ChangeEventSource where the platform offers none: confirmation polls only.
#if !defined(__linux__) && !defined(__OpenBSD__) && !defined(__FreeBSD__)

#include "fingerprint/change_events.h"

namespace carp_exec::fingerprint {

absl::StatusOr<std::unique_ptr<ChangeEventSource>> OpenChangeEventSource(
    const ObserverOptions& /*options*/) {
  return absl::UnimplementedError("failover events: no event source on this platform");
}

}  // namespace carp_exec::fingerprint

#endif  // no event source
