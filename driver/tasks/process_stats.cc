#include "driver/tasks/process_stats.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "driver/mutex_lock.h"
#include "driver/tasks/boot_relative_time.h"

namespace carp_exec::tasks {
namespace {

// raw_exec's measured lists: total_ticks is filled but not listed, and we keep that.
const std::vector<CpuField>& MeasuredCpu() {
  static const std::vector<CpuField> fields = {CpuField::kSystemMode, CpuField::kUserMode,
                                               CpuField::kPercent};
  return fields;
}

std::vector<MemoryField> MeasuredMemory(bool with_swap) {
  if (with_swap) return {MemoryField::kRss, MemoryField::kSwap};
  return {MemoryField::kRss};
}

}  // namespace

double CpuPercent(absl::Duration cpu_before, absl::Duration cpu_after, absl::Duration elapsed) {
  const absl::Duration used = cpu_after - cpu_before;
  if (elapsed <= absl::ZeroDuration() || used <= absl::ZeroDuration()) return 0;
  return absl::FDivDuration(used, elapsed) * 100.0;
}

double TicksConsumed(double percent, const CpuCompute& compute) {
  if (compute.total_mhz <= 0 || compute.cores <= 0) return 0;
  return percent / 100.0 * compute.total_mhz / compute.cores;
}

TaskStatsSampler::TaskStatsSampler(TaskProcessGroup group, CpuCompute compute)
    : group_(std::move(group)), compute_(compute) {}

bool TaskStatsSampler::group_gone() const {
  carp_exec::MutexLock lock(mu_);
  return gone_;
}

std::vector<const ProcessInfo*> TaskStatsSampler::Members(const ProcessSnapshot& snapshot) {
  std::vector<const ProcessInfo*> members;
  if (gone_ || group_.pgid <= 0) return members;
  const uint64_t leader_start = group_.leader_start_time;
  const ProcessInfo* leader = snapshot.Find(group_.pgid);
  if (leader != nullptr && leader_start != 0 && leader->start_time != 0 &&
      !SameStartTime(leader->start_time, leader_start)) {
    // A pid cannot be reused while it still names a process group, so a different process
    // under our pgid number means our group ended and the number went to someone else.
    gone_ = true;
    return members;
  }
  // Breadth-first over the group and every descendant of a member; `seen` stops cycles that
  // a snapshot torn by pid reuse could contain.
  absl::flat_hash_set<pid_t> seen;
  std::vector<const ProcessInfo*> pending = snapshot.GroupMembers(group_.pgid);
  while (!pending.empty()) {
    const ProcessInfo* process = pending.back();
    pending.pop_back();
    if (!seen.insert(process->pid).second) continue;
    // Anything older than our leader cannot belong to the task.
    if (leader_start != 0 && process->start_time != 0 &&
        StartedBefore(process->start_time, leader_start)) {
      continue;
    }
    members.push_back(process);
    for (const ProcessInfo* child : snapshot.Children(process->pid)) pending.push_back(child);
  }
  if (members.empty()) {
    if (seen_) gone_ = true;
  } else {
    seen_ = true;
  }
  return members;
}

ResourceUsage TaskStatsSampler::UsageOf(const ProcessSnapshot& snapshot, const ProcessInfo& process,
                                        absl::flat_hash_map<pid_t, CpuSample>* next) {
  ResourceUsage usage;
  const CpuSample now{process.start_time, process.user_cpu, process.system_cpu,
                      snapshot.monotonic_time()};
  auto previous = previous_.find(process.pid);
  // Same pid and start time ⇒ same process: compare counters. Otherwise this is its first
  // sample (0%, as Nomad reports a pid's first sample).
  if (previous != previous_.end() &&
      SameStartTime(previous->second.start_time, process.start_time)) {
    const CpuSample& before = previous->second;
    const absl::Duration elapsed = now.taken_at - before.taken_at;
    usage.cpu.user_mode = CpuPercent(before.user, now.user, elapsed);
    usage.cpu.system_mode = CpuPercent(before.system, now.system, elapsed);
    usage.cpu.percent = CpuPercent(before.user + before.system, now.user + now.system, elapsed);
  }
  usage.cpu.total_ticks = TicksConsumed(usage.cpu.percent, compute_);
  usage.cpu.measured = MeasuredCpu();
  (*next)[process.pid] = now;

  usage.memory.rss = process.rss_bytes;
  bool with_swap = false;
  if (snapshot.reports_swap()) {
    std::optional<uint64_t> swap = snapshot.SwapBytes(process);
    usage.memory.swap = swap.value_or(0);
    with_swap = true;
  }
  usage.memory.measured = MeasuredMemory(with_swap);
  return usage;
}

TaskStats TaskStatsSampler::Sample(const ProcessSnapshot& snapshot) {
  carp_exec::MutexLock lock(mu_);
  if (has_last_ && snapshot.sequence() == last_sequence_) return last_;

  TaskStats stats;
  stats.task_id = group_.task_id;
  stats.timestamp = snapshot.taken_at();
  stats.aggregate.cpu.measured = MeasuredCpu();
  stats.aggregate.memory.measured = MeasuredMemory(snapshot.reports_swap());

  absl::flat_hash_map<pid_t, CpuSample> next;
  for (const ProcessInfo* process : Members(snapshot)) {
    ResourceUsage usage = UsageOf(snapshot, *process, &next);
    CpuUsage& cpu = stats.aggregate.cpu;
    cpu.system_mode += usage.cpu.system_mode;
    cpu.user_mode += usage.cpu.user_mode;
    cpu.percent += usage.cpu.percent;
    stats.aggregate.memory.rss += usage.memory.rss;
    stats.aggregate.memory.swap += usage.memory.swap;
    stats.by_pid.emplace(absl::StrCat(process->pid), std::move(usage));
  }
  stats.aggregate.cpu.total_ticks = TicksConsumed(stats.aggregate.cpu.percent, compute_);
  // Only pids present now are kept: a vanished pid's counters would only mislead a reuser.
  previous_ = std::move(next);

  has_last_ = true;
  last_sequence_ = snapshot.sequence();
  last_ = stats;
  return stats;
}

}  // namespace carp_exec::tasks
