#pragma once
// Resource usage of one task's processes, in the shape of Nomad's TaskStats message.
//
// A task is its process group (the task's main process leads it) plus every descendant of a
// group member, so a child that moved to its own group or session is still counted while its
// parent lives. CPU percent is the CPU time a pid used between two snapshots divided by the
// wall time between them (so a process using two cores shows 200%); a pid's first sample
// reports 0%. The aggregate is the sum over pids, like raw_exec. The service adapter converts
// TaskStats to the protobuf message; the enum values below equal the proto's.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "driver/tasks/process_stats_table.h"

namespace carp_exec::tasks {

// Same numbers as hashicorp.nomad.plugins.drivers.proto.CPUUsage.Fields.
enum class CpuField {
  kSystemMode = 0,
  kUserMode = 1,
  kTotalTicks = 2,
  kThrottledPeriods = 3,
  kThrottledTime = 4,
  kPercent = 5
};
// Same numbers as MemoryUsage.Fields.
enum class MemoryField {
  kRss = 0,
  kCache = 1,
  kMaxUsage = 2,
  kKernelUsage = 3,
  kKernelMaxUsage = 4,
  kUsage = 5,
  kSwap = 6
};

struct CpuUsage {
  double system_mode = 0;  // percent of one core spent in the kernel
  double user_mode = 0;    // percent of one core spent in user mode
  double total_ticks = 0;  // MHz consumed: percent/100 × total MHz / cores (0 without CpuCompute)
  uint64_t throttled_periods = 0;  // never measured here (no cgroups)
  uint64_t throttled_time = 0;
  double percent = 0;  // user + system
  std::vector<CpuField> measured;
};

struct MemoryUsage {
  uint64_t rss = 0;  // bytes
  uint64_t cache = 0;
  uint64_t max_usage = 0;
  uint64_t kernel_usage = 0;
  uint64_t kernel_max_usage = 0;
  uint64_t usage = 0;
  uint64_t swap = 0;  // bytes, when the OS reports it (Linux)
  std::vector<MemoryField> measured;
};

struct ResourceUsage {
  CpuUsage cpu;
  MemoryUsage memory;
};

// Mirrors Nomad's TaskStats: `by_pid` keys are decimal pids, like Nomad's map<string, ...>.
struct TaskStats {
  std::string task_id;
  absl::Time timestamp;  // when the snapshot was taken; Nomad drops samples without one
  ResourceUsage aggregate;
  std::map<std::string, ResourceUsage> by_pid;
};

// The node's CPU as Nomad's topology describes it; total_ticks is 0 unless both are > 0.
struct CpuCompute {
  double total_mhz = 0;  // all cores together
  int cores = 0;
};

// Identifies a task's processes. `leader_start_time` is the main process's
// ProcessInfo::start_time (same unit); 0 disables the PID reuse guard.
struct TaskProcessGroup {
  std::string task_id;
  pid_t pgid = 0;  // == the main process's pid
  uint64_t leader_start_time = 0;
};

// CPU percent of one core: CPU time used over wall time elapsed, ×100. 0 when either delta is
// not positive (first sample, clock not advanced, counters reset by pid reuse).
double CpuPercent(absl::Duration cpu_before, absl::Duration cpu_after, absl::Duration elapsed);

// raw_exec's conversion of a percent into MHz ("ticks"): percent/100 × total MHz / cores.
double TicksConsumed(double percent, const CpuCompute& compute);

// Computes TaskStats for one task from shared snapshots, remembering each pid's previous CPU
// times between calls. One sampler per task; thread-safe (calls are serialised).
//
// PID reuse guard: if the pid equal to the task's pgid belongs to a process with another start
// time, the task's group is gone and the number was reused, so nothing is reported; members
// that started before the leader are never counted. Once the group has been seen and then
// found empty, the sampler reports nothing for good (a later group with the same number is
// not ours).
class TaskStatsSampler {
 public:
  TaskStatsSampler(TaskProcessGroup group, CpuCompute compute);

  TaskStatsSampler(const TaskStatsSampler&) = delete;
  TaskStatsSampler& operator=(const TaskStatsSampler&) = delete;

  // Usage in `snapshot`. Passing the same snapshot again (two streams, or an interval shorter
  // than the table's max_age) returns the previous figures instead of a bogus 0% delta.
  TaskStats Sample(const ProcessSnapshot& snapshot);

  // True once the task's group was seen and is now gone, or its pgid was reused.
  bool group_gone() const;

  const TaskProcessGroup& group() const { return group_; }

 private:
  struct CpuSample {
    uint64_t start_time = 0;
    absl::Duration user;
    absl::Duration system;
    absl::Duration taken_at;  // snapshot monotonic time
  };

  // The task's processes in `snapshot`, or empty (and sets gone_) when the guard trips.
  std::vector<const ProcessInfo*> Members(const ProcessSnapshot& snapshot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ResourceUsage UsageOf(const ProcessSnapshot& snapshot, const ProcessInfo& process,
                        absl::flat_hash_map<pid_t, CpuSample>* next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const TaskProcessGroup group_;
  const CpuCompute compute_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<pid_t, CpuSample> previous_ ABSL_GUARDED_BY(mu_);
  bool seen_ ABSL_GUARDED_BY(mu_) = false;
  bool gone_ ABSL_GUARDED_BY(mu_) = false;
  bool has_last_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  TaskStats last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace carp_exec::tasks
