// OpenBSD ProcessSource: one sysctl(KERN_PROC, KERN_PROC_ALL) call returns every process.
// Compiled only on OpenBSD; not built or tested by the Linux CI. Swap per process is not
// reported by OpenBSD, so ReportsSwap() stays false.
#ifdef __OpenBSD__

#include <sys/param.h>
#include <sys/sysctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "driver/tasks/boot_relative_time.h"
#include "driver/tasks/process_stats_table.h"

namespace carp_exec::tasks {
namespace {

// `boot_micros`: kern.boottime read in the same pass as the table (boot_relative_time.h).
ProcessInfo FromKinfo(const struct kinfo_proc& kp, uint64_t page_size, int64_t boot_micros) {
  ProcessInfo info;
  info.pid = kp.p_pid;
  info.ppid = kp.p_ppid;
  info.pgid = kp.p__pgid;
  info.sid = kp.p_sid;
  // The p_u* fields are valid only when p_uvalid is set (not for zombies).
  if (kp.p_uvalid != 0) {
    info.start_time = StartSinceBoot(
        static_cast<int64_t>(kp.p_ustart_sec) * 1000000 + static_cast<int64_t>(kp.p_ustart_usec),
        boot_micros);
    info.user_cpu = absl::Seconds(kp.p_uutime_sec) + absl::Microseconds(kp.p_uutime_usec);
    info.system_cpu = absl::Seconds(kp.p_ustime_sec) + absl::Microseconds(kp.p_ustime_usec);
  }
  info.rss_bytes = kp.p_vm_rssize > 0 ? static_cast<uint64_t>(kp.p_vm_rssize) * page_size : 0;
  return info;
}

class OpenBsdKernProcSource final : public ProcessSource {
 public:
  absl::StatusOr<std::vector<ProcessInfo>> ListProcesses() const override {
    const uint64_t page_size = static_cast<uint64_t>(getpagesize());
    std::vector<struct kinfo_proc> procs;
    // Start times are boot time + uptime: read the table between two equal boot times.
    absl::StatusOr<int64_t> boot =
        ReadAtSteadyBootTime(KernelBootTimeMicros, [&procs] { return ReadTable(&procs); });
    if (!boot.ok()) return boot.status();
    std::vector<ProcessInfo> out;
    out.reserve(procs.size());
    for (const struct kinfo_proc& kp : procs) out.push_back(FromKinfo(kp, page_size, *boot));
    return out;
  }

 private:
  static absl::Status ReadTable(std::vector<struct kinfo_proc>* procs) {
    int mib[6] = {CTL_KERN, KERN_PROC, KERN_PROC_ALL, 0, sizeof(struct kinfo_proc), 0};
    // The table can grow between the size query and the read: retry with more room.
    for (int attempt = 0; attempt < 8; ++attempt) {
      size_t size = 0;
      if (sysctl(mib, 6, nullptr, &size, nullptr, 0) == -1) break;
      procs->assign(size / sizeof(struct kinfo_proc) + 64, {});
      mib[5] = static_cast<int>(procs->size());
      size = procs->size() * sizeof(struct kinfo_proc);
      if (sysctl(mib, 6, procs->data(), &size, nullptr, 0) == -1) {
        if (errno == ENOMEM) continue;
        break;
      }
      procs->resize(size / sizeof(struct kinfo_proc));
      return absl::OkStatus();
    }
    return absl::UnavailableError(absl::StrCat(
        "process stats: sysctl kern.proc (KERN_PROC_ALL) failed: ", std::strerror(errno)));
  }
};

}  // namespace

std::shared_ptr<const ProcessSource> NativeProcessSource() {
  return std::make_shared<const OpenBsdKernProcSource>();
}

}  // namespace carp_exec::tasks

#endif  // __OpenBSD__
