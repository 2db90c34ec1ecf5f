// FreeBSD ProcessSource: one sysctl(KERN_PROC, KERN_PROC_PROC) call returns every process
// (one entry per process, not per thread). Compiled only on FreeBSD; not built or tested by
// the Linux CI. FreeBSD reports no per-process swap use (ki_swrss is something else), so
// ReportsSwap() stays false.
#ifdef __FreeBSD__

#include <sys/types.h>
// sys/types.h stays first (the comment keeps clang-format from sorting it down): FreeBSD's
// sys/user.h reaches machine/pcb.h and x86/fpu.h, which use int32_t without including it
// (FreeBSD sys/x86/include/fpu.h; kinfo_getproc(3) lists sys/types.h first).
#include <sys/sysctl.h>
#include <sys/time.h>
#include <sys/user.h>  // struct kinfo_proc (FreeBSD sys/sys/user.h)
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

absl::Duration FromTimeval(const struct timeval& tv) {
  return absl::Seconds(tv.tv_sec) + absl::Microseconds(tv.tv_usec);
}

// `boot_micros`: kern.boottime read in the same pass as the table (boot_relative_time.h).
ProcessInfo FromKinfo(const struct kinfo_proc& kp, uint64_t page_size, int64_t boot_micros) {
  ProcessInfo info;
  info.pid = kp.ki_pid;
  info.ppid = kp.ki_ppid;
  info.pgid = kp.ki_pgid;
  info.sid = kp.ki_sid;
  info.start_time = StartSinceBoot(static_cast<int64_t>(kp.ki_start.tv_sec) * 1000000 +
                                       static_cast<int64_t>(kp.ki_start.tv_usec),
                                   boot_micros);
  info.user_cpu = FromTimeval(kp.ki_rusage.ru_utime);
  info.system_cpu = FromTimeval(kp.ki_rusage.ru_stime);
  info.rss_bytes = kp.ki_rssize > 0 ? static_cast<uint64_t>(kp.ki_rssize) * page_size : 0;
  return info;
}

class FreeBsdKernProcSource final : public ProcessSource {
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
    for (const struct kinfo_proc& kp : procs) {
      // A kernel with another struct layout would make every field garbage: refuse it.
      if (kp.ki_structsize != sizeof(struct kinfo_proc)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "process stats: kinfo_proc size ", kp.ki_structsize, " from the kernel, ",
            sizeof(struct kinfo_proc), " compiled in; rebuild carp_exec for this FreeBSD"));
      }
      out.push_back(FromKinfo(kp, page_size, *boot));
    }
    return out;
  }

 private:
  static absl::Status ReadTable(std::vector<struct kinfo_proc>* procs) {
    int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PROC, 0};
    // The table can grow between the size query and the read: retry with more room.
    for (int attempt = 0; attempt < 8; ++attempt) {
      size_t size = 0;
      if (sysctl(mib, 4, nullptr, &size, nullptr, 0) == -1) break;
      procs->assign(size / sizeof(struct kinfo_proc) + 64, {});
      size = procs->size() * sizeof(struct kinfo_proc);
      if (sysctl(mib, 4, procs->data(), &size, nullptr, 0) == -1) {
        if (errno == ENOMEM) continue;
        break;
      }
      procs->resize(size / sizeof(struct kinfo_proc));
      return absl::OkStatus();
    }
    return absl::UnavailableError(
        absl::StrCat("process stats: sysctl kern.proc.proc failed: ", std::strerror(errno)));
  }
};

}  // namespace

std::shared_ptr<const ProcessSource> NativeProcessSource() {
  return std::make_shared<const FreeBsdKernProcSource>();
}

}  // namespace carp_exec::tasks

#endif  // __FreeBSD__
