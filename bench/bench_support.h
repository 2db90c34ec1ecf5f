#pragma once
// Small helpers shared by the benchmarks: process memory and thread counts from /proc, and
// percentiles. Benchmarks print figures; they assert nothing.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace carp_exec::bench {

// A field of /proc/<pid>/status in kB (VmRSS, VmHWM) or as a count (Threads); -1 if unknown.
long ProcStatusField(pid_t pid, const std::string& field);
// Rss/Pss/Private_Dirty etc. from /proc/<pid>/smaps_rollup in kB; -1 if unknown.
long SmapsRollupField(pid_t pid, const std::string& field);

// The q-quantile (0..1) of `samples` (sorted copy; nearest rank). Zero for an empty set.
absl::Duration Quantile(std::vector<absl::Duration> samples, double q);

std::string Ms(absl::Duration d);  // "12.34 ms"
std::string MiB(long kb);          // "10.2 MiB"

// A fresh scratch root /tmp/<tag>.XXXXXX with an allocs/ subdirectory that TMPDIR points at
// (TaskFixture makes its alloc dirs there). nullopt (and a perror line) when mkdtemp fails.
std::optional<std::string> MakeScratchRoot(const char* tag);

}  // namespace carp_exec::bench
