#pragma once
// A snapshot of every process on the host, taken once and shared by all tasks being sampled.
//
// Nomad keeps one TaskStats stream open per task (default interval 1 s). Scanning the process
// table once per stream would mean 1,000 full scans per second with 1,000 tasks, so
// ProcessTable caches one scan for a short time and every task's sampler reads the same
// immutable ProcessSnapshot. Grouping (which processes belong to a task) is done on the
// snapshot, in OS-independent code; only ProcessSource knows the OS.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace carp_exec::tasks {

// One process as the kernel reported it during a scan.
struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;
  pid_t sid = 0;
  // When the process started, in the OS's own unit, used only to tell two processes with the
  // same pid apart and to order processes (SameStartTime/StartedBefore, boot_relative_time.h):
  // Linux clock ticks since boot (field 22 of /proc/<pid>/stat, unconverted); OpenBSD and
  // FreeBSD microseconds since boot, so a clock step changes nothing. The same unit as
  // ProcessStartTime. 0 = unknown (e.g. a zombie on OpenBSD).
  uint64_t start_time = 0;
  // CPU time consumed by this process itself (reaped children not included).
  absl::Duration user_cpu;
  absl::Duration system_cpu;
  uint64_t rss_bytes = 0;
  // Filled by synthetic snapshots (tests) or left empty; the sampler then asks the source.
  std::optional<uint64_t> swap_bytes;
};

// The OS behind a ProcessTable. Implementations must be thread-safe (const methods).
class ProcessSource {
 public:
  virtual ~ProcessSource() = default;

  // Every process (not thread) visible to us. A process that vanishes during the scan is
  // skipped, not an error; failing to read the table at all is.
  virtual absl::StatusOr<std::vector<ProcessInfo>> ListProcesses() const = 0;

  // Swap use of one process, or nullopt when unknown. Called only for the processes of a task
  // being sampled: on Linux it costs one more file read per process, which a whole-table scan
  // should not pay for processes nobody asked about.
  virtual std::optional<uint64_t> ReadSwapBytes(const ProcessInfo& process) const {
    return std::nullopt;
  }

  // Whether ReadSwapBytes can report anything on this OS (decides the measured fields).
  virtual bool ReportsSwap() const { return false; }
};

// The source for the OS we are built for: Linux reads /proc, OpenBSD and FreeBSD use
// sysctl(KERN_PROC). Other systems get a source whose ListProcesses returns Unimplemented.
std::shared_ptr<const ProcessSource> NativeProcessSource();

// All processes at one instant, with the indexes every task's grouping needs, built once.
// Immutable and safe to share between threads.
class ProcessSnapshot {
 public:
  // `monotonic_time` comes from a steady clock and is used for CPU percent deltas; `taken_at`
  // is wall-clock time for TaskStats.timestamp. `sequence` is unique per ProcessTable scan.
  // `source` may be null (synthetic snapshots): then swap comes only from ProcessInfo.
  ProcessSnapshot(std::vector<ProcessInfo> processes, absl::Time taken_at,
                  absl::Duration monotonic_time, uint64_t sequence,
                  std::shared_ptr<const ProcessSource> source = nullptr);

  ProcessSnapshot(const ProcessSnapshot&) = delete;
  ProcessSnapshot& operator=(const ProcessSnapshot&) = delete;

  // nullptr when no process with that pid was seen.
  const ProcessInfo* Find(pid_t pid) const;
  // Members of process group `pgid`, in pid order (empty if none).
  std::vector<const ProcessInfo*> GroupMembers(pid_t pgid) const;
  // Direct children of `pid`, in pid order.
  std::vector<const ProcessInfo*> Children(pid_t pid) const;

  // ProcessInfo.swap_bytes if set, else the source's reading, else nullopt.
  std::optional<uint64_t> SwapBytes(const ProcessInfo& process) const;
  // True if swap figures can exist in this snapshot (source reports swap, or synthetic data
  // carries them).
  bool reports_swap() const { return reports_swap_; }

  const std::vector<ProcessInfo>& processes() const { return processes_; }
  absl::Time taken_at() const { return taken_at_; }
  absl::Duration monotonic_time() const { return monotonic_time_; }
  uint64_t sequence() const { return sequence_; }

 private:
  std::vector<ProcessInfo> processes_;  // sorted by pid
  absl::flat_hash_map<pid_t, size_t> by_pid_;
  absl::flat_hash_map<pid_t, std::vector<size_t>> by_pgid_;
  absl::flat_hash_map<pid_t, std::vector<size_t>> children_;
  absl::Time taken_at_;
  absl::Duration monotonic_time_;
  uint64_t sequence_;
  std::shared_ptr<const ProcessSource> source_;
  bool reports_swap_ = false;
};

// A steady clock as a Duration since an arbitrary origin (replaceable in tests).
absl::Duration SteadyClockNow();

// Hands out snapshots, scanning at most once per `max_age`. Thread-safe. Only one scan runs at
// a time; callers arriving during a scan get the previous snapshot if there is one, otherwise
// they wait for the scan. The scan itself runs without any lock held.
class ProcessTable {
 public:
  struct Options {
    // How long one scan serves every caller. A scan costs ~40 µs per process on the Linux VM
    // we measured (1,150 processes: 45 ms, almost all of it the kernel formatting
    // /proc/<pid>/stat), so with 1,000 tasks streaming at Nomad's default 1 s interval, 1 s
    // means about one scan per second instead of four at 250 ms. Figures are then at most
    // this stale (Nomad's own executor caches 5 s); CPU percent stays exact because it is
    // computed from each snapshot's own time.
    absl::Duration max_age = absl::Seconds(1);
    std::function<absl::Duration()> monotonic_clock = SteadyClockNow;
    std::function<absl::Time()> wall_clock = absl::Now;
  };

  explicit ProcessTable(std::shared_ptr<const ProcessSource> source);
  ProcessTable(std::shared_ptr<const ProcessSource> source, Options options);

  ProcessTable(const ProcessTable&) = delete;
  ProcessTable& operator=(const ProcessTable&) = delete;

  // A snapshot no older than max_age (or the one being replaced, while a scan runs).
  // Errors come from the source, e.g. /proc not mounted.
  absl::StatusOr<std::shared_ptr<const ProcessSnapshot>> Snapshot();

  // Number of scans performed so far (for tests and benchmarks).
  uint64_t scans() const;

 private:
  const std::shared_ptr<const ProcessSource> source_;
  const Options options_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const ProcessSnapshot> latest_ ABSL_GUARDED_BY(mu_);
  bool scanning_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t scans_ ABSL_GUARDED_BY(mu_) = 0;
};

// Parses the text of Linux /proc/<pid>/stat into `out` (CPU times need the clock tick rate and
// RSS the page size). Exposed for tests. Returns false if the text is malformed.
bool ParseLinuxProcStat(absl::string_view text, int64_t clock_ticks_per_second, int64_t page_size,
                        ProcessInfo* out);

// Parses the `VmSwap:` line of Linux /proc/<pid>/status into bytes; nullopt if absent.
std::optional<uint64_t> ParseLinuxVmSwap(absl::string_view status_text);

}  // namespace carp_exec::tasks
