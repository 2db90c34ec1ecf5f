// carp_kernel.h where the kernel has no CARP demote counter (Linux and others): the tools only.
#if !defined(__OpenBSD__) && !defined(__FreeBSD__)

#include "fingerprint/carp_kernel.h"

namespace carp_exec::fingerprint {
namespace {

absl::Status NotHere() {
  return absl::UnimplementedError(
      "failover: in-process demotion exists only in OpenBSD and FreeBSD builds; set "
      "demote_via = \"tool\"");
}

}  // namespace

bool KernelDemotionAvailable() { return false; }
bool KernelCarpObservationAvailable(BackendKind /*backend*/) { return false; }
absl::StatusOr<std::vector<CarpInterfaceStatus>> KernelReadCarpInterfaces(
    const std::vector<std::string>& /*interfaces*/) {
  return absl::UnimplementedError(
      "failover: in-process CARP observation exists only in OpenBSD and FreeBSD builds; set "
      "observe_via = \"tool\"");
}
absl::StatusOr<int> KernelReadGroupDemoteCount(absl::string_view /*group*/) { return NotHere(); }
absl::Status KernelChangeGroupDemoteCount(absl::string_view /*group*/, int /*delta*/) {
  return NotHere();
}
absl::StatusOr<int> KernelReadFreeBsdDemotion() { return NotHere(); }
absl::Status KernelAdjustFreeBsdDemotion(int /*delta*/) { return NotHere(); }

}  // namespace carp_exec::fingerprint

#endif  // not a BSD
