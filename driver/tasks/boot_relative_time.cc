#include "driver/tasks/boot_relative_time.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

#if defined(__OpenBSD__) || defined(__FreeBSD__)
#include <sys/sysctl.h>
#include <sys/time.h>
#include <sys/types.h>
#endif

namespace carp_exec::tasks {

uint64_t StartSinceBoot(int64_t start_micros, int64_t boot_micros) {
  if (start_micros < boot_micros) return 0;
  return static_cast<uint64_t>(start_micros - boot_micros);
}

bool SameStartTime(uint64_t a, uint64_t b, uint64_t slack) {
  return a >= b ? a - b <= slack : b - a <= slack;
}

bool StartedBefore(uint64_t a, uint64_t b, uint64_t slack) { return a < b && b - a > slack; }

absl::StatusOr<int64_t> ReadAtSteadyBootTime(
    const std::function<absl::StatusOr<int64_t>()>& boot_time,
    const std::function<absl::Status()>& read) {
  for (int attempt = 0; attempt < kBootTimeAttempts; ++attempt) {
    absl::StatusOr<int64_t> before = boot_time();
    if (!before.ok()) return before.status();
    if (absl::Status status = read(); !status.ok()) return status;
    absl::StatusOr<int64_t> after = boot_time();
    if (!after.ok()) return after.status();
    if (*before == *after) return *after;
  }
  return absl::UnavailableError(
      absl::StrCat("process start times: kern.boottime changed during each of ", kBootTimeAttempts,
                   " reads (the clock is being stepped repeatedly); try again once it is set"));
}

absl::StatusOr<int64_t> KernelBootTimeMicros() {
#if defined(__OpenBSD__) || defined(__FreeBSD__)
  int mib[2] = {CTL_KERN, KERN_BOOTTIME};
  struct timeval boot {};
  size_t len = sizeof(boot);
  if (sysctl(mib, 2, &boot, &len, nullptr, 0) != 0 || len != sizeof(boot)) {
    return absl::UnavailableError(
        absl::StrCat("process start times: sysctl kern.boottime failed: ", std::strerror(errno)));
  }
  return static_cast<int64_t>(boot.tv_sec) * 1000000 + static_cast<int64_t>(boot.tv_usec);
#else
  return absl::UnimplementedError("kern.boottime exists only on OpenBSD and FreeBSD");
#endif
}

}  // namespace carp_exec::tasks
