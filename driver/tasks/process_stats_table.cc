#include "driver/tasks/process_stats_table.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "driver/mutex_lock.h"

namespace carp_exec::tasks {

ProcessSnapshot::ProcessSnapshot(std::vector<ProcessInfo> processes, absl::Time taken_at,
                                 absl::Duration monotonic_time, uint64_t sequence,
                                 std::shared_ptr<const ProcessSource> source)
    : processes_(std::move(processes)),
      taken_at_(taken_at),
      monotonic_time_(monotonic_time),
      sequence_(sequence),
      source_(std::move(source)) {
  std::sort(processes_.begin(), processes_.end(),
            [](const ProcessInfo& a, const ProcessInfo& b) { return a.pid < b.pid; });
  by_pid_.reserve(processes_.size());
  for (size_t i = 0; i < processes_.size(); ++i) {
    const ProcessInfo& p = processes_[i];
    by_pid_.emplace(p.pid, i);
    by_pgid_[p.pgid].push_back(i);
    // A process is never its own child; pid 0's "children" (kernel) are not interesting.
    if (p.ppid != p.pid) children_[p.ppid].push_back(i);
    if (p.swap_bytes.has_value()) reports_swap_ = true;
  }
  if (source_ != nullptr && source_->ReportsSwap()) reports_swap_ = true;
}

const ProcessInfo* ProcessSnapshot::Find(pid_t pid) const {
  auto it = by_pid_.find(pid);
  return it == by_pid_.end() ? nullptr : &processes_[it->second];
}

std::vector<const ProcessInfo*> ProcessSnapshot::GroupMembers(pid_t pgid) const {
  std::vector<const ProcessInfo*> out;
  auto it = by_pgid_.find(pgid);
  if (it == by_pgid_.end()) return out;
  out.reserve(it->second.size());
  for (size_t index : it->second) out.push_back(&processes_[index]);
  return out;
}

std::vector<const ProcessInfo*> ProcessSnapshot::Children(pid_t pid) const {
  std::vector<const ProcessInfo*> out;
  auto it = children_.find(pid);
  if (it == children_.end()) return out;
  out.reserve(it->second.size());
  for (size_t index : it->second) out.push_back(&processes_[index]);
  return out;
}

std::optional<uint64_t> ProcessSnapshot::SwapBytes(const ProcessInfo& process) const {
  if (process.swap_bytes.has_value()) return process.swap_bytes;
  if (source_ == nullptr) return std::nullopt;
  return source_->ReadSwapBytes(process);
}

absl::Duration SteadyClockNow() {
  return absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

ProcessTable::ProcessTable(std::shared_ptr<const ProcessSource> source)
    : ProcessTable(std::move(source), Options()) {}

ProcessTable::ProcessTable(std::shared_ptr<const ProcessSource> source, Options options)
    : source_(std::move(source)), options_(std::move(options)) {}

absl::StatusOr<std::shared_ptr<const ProcessSnapshot>> ProcessTable::Snapshot() {
  uint64_t sequence = 0;
  {
    carp_exec::MutexLock lock(mu_);
    while (true) {
      const absl::Duration now = options_.monotonic_clock();
      if (latest_ != nullptr && now - latest_->monotonic_time() < options_.max_age) {
        return latest_;
      }
      if (!scanning_) break;
      // Someone is scanning: a slightly stale snapshot beats waiting for a full scan, but one
      // left over from long ago (no caller for a while) does not.
      if (latest_ != nullptr && now - latest_->monotonic_time() < 4 * options_.max_age) {
        return latest_;
      }
      mu_.Await(absl::Condition(
          +[](bool* scanning) { return !*scanning; }, &scanning_));
    }
    scanning_ = true;
    sequence = ++scans_;
  }

  // The scan reads the whole process table: no lock held.
  const absl::Time wall = options_.wall_clock();
  const absl::Duration monotonic = options_.monotonic_clock();
  absl::StatusOr<std::vector<ProcessInfo>> processes = source_->ListProcesses();

  carp_exec::MutexLock lock(mu_);
  scanning_ = false;
  if (!processes.ok()) return processes.status();
  latest_ = std::make_shared<const ProcessSnapshot>(*std::move(processes), wall, monotonic,
                                                    sequence, source_);
  return latest_;
}

uint64_t ProcessTable::scans() const {
  carp_exec::MutexLock lock(mu_);
  return scans_;
}

bool ParseLinuxProcStat(absl::string_view text, int64_t clock_ticks_per_second, int64_t page_size,
                        ProcessInfo* out) {
  // "pid (comm) state ppid ...": comm may contain spaces and ')' so split at the last ')'.
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == absl::string_view::npos || close == absl::string_view::npos || close < open) {
    return false;
  }
  int pid = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text.substr(0, open)), &pid)) return false;
  std::vector<absl::string_view> fields =
      absl::StrSplit(text.substr(close + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state); field N of proc(5) is fields[N - 3].
  auto field = [&](int number) { return fields[static_cast<size_t>(number - 3)]; };
  if (fields.size() < 22 || clock_ticks_per_second <= 0) return false;
  int ppid = 0, pgid = 0, sid = 0;
  uint64_t utime = 0, stime = 0, start = 0;
  int64_t rss_pages = 0;
  if (!absl::SimpleAtoi(field(4), &ppid) || !absl::SimpleAtoi(field(5), &pgid) ||
      !absl::SimpleAtoi(field(6), &sid) || !absl::SimpleAtoi(field(14), &utime) ||
      !absl::SimpleAtoi(field(15), &stime) || !absl::SimpleAtoi(field(22), &start) ||
      !absl::SimpleAtoi(field(24), &rss_pages)) {
    return false;
  }
  const auto ticks = [&](uint64_t n) {
    return absl::Seconds(1) * static_cast<int64_t>(n) / clock_ticks_per_second;
  };
  out->pid = pid;
  out->ppid = ppid;
  out->pgid = pgid;
  out->sid = sid;
  out->start_time = start;
  out->user_cpu = ticks(utime);
  out->system_cpu = ticks(stime);
  out->rss_bytes =
      rss_pages > 0 ? static_cast<uint64_t>(rss_pages) * static_cast<uint64_t>(page_size) : 0;
  return true;
}

std::optional<uint64_t> ParseLinuxVmSwap(absl::string_view status_text) {
  for (absl::string_view line : absl::StrSplit(status_text, '\n')) {
    if (!absl::ConsumePrefix(&line, "VmSwap:")) continue;
    line = absl::StripAsciiWhitespace(line);
    if (!absl::ConsumeSuffix(&line, "kB")) return std::nullopt;
    uint64_t kib = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &kib)) return std::nullopt;
    return kib * 1024;
  }
  return std::nullopt;
}

}  // namespace carp_exec::tasks

#if !defined(__linux__) && !defined(__OpenBSD__) && !defined(__FreeBSD__)
namespace carp_exec::tasks {
namespace {
class UnsupportedProcessSource final : public ProcessSource {
 public:
  absl::StatusOr<std::vector<ProcessInfo>> ListProcesses() const override {
    return absl::UnimplementedError(
        "process stats: this operating system has no process table reader; TaskStats needs "
        "Linux, OpenBSD or FreeBSD");
  }
};
}  // namespace
std::shared_ptr<const ProcessSource> NativeProcessSource() {
  return std::make_shared<const UnsupportedProcessSource>();
}
}  // namespace carp_exec::tasks
#endif
