#include "bench/bench_support.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace carp_exec::bench {
namespace {

long ReadKeyedField(const std::string& path, const std::string& field) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return -1;
  char line[512];
  long value = -1;
  const std::string prefix = field + ":";
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::strncmp(line, prefix.c_str(), prefix.size()) != 0) continue;
    long v = 0;
    if (std::sscanf(line + prefix.size(), "%ld", &v) == 1) value = v;
    break;
  }
  std::fclose(f);
  return value;
}

}  // namespace

long ProcStatusField(pid_t pid, const std::string& field) {
  return ReadKeyedField(absl::StrCat("/proc/", pid, "/status"), field);
}

long SmapsRollupField(pid_t pid, const std::string& field) {
  return ReadKeyedField(absl::StrCat("/proc/", pid, "/smaps_rollup"), field);
}

absl::Duration Quantile(std::vector<absl::Duration> samples, double q) {
  if (samples.empty()) return absl::ZeroDuration();
  std::sort(samples.begin(), samples.end());
  size_t rank = static_cast<size_t>(q * static_cast<double>(samples.size()));
  if (rank >= samples.size()) rank = samples.size() - 1;
  return samples[rank];
}

std::string Ms(absl::Duration d) {
  return absl::StrFormat("%.2f ms", absl::ToDoubleMilliseconds(d));
}

std::string MiB(long kb) {
  if (kb < 0) return "n/a";
  return absl::StrFormat("%.1f MiB", static_cast<double>(kb) / 1024.0);
}

std::optional<std::string> MakeScratchRoot(const char* tag) {
  std::string pattern = absl::StrCat("/tmp/", tag, ".XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    return std::nullopt;
  }
  const std::string allocs = pattern + "/allocs";
  mkdir(allocs.c_str(), 0755);
  setenv("TMPDIR", allocs.c_str(), 1);
  return pattern;
}

}  // namespace carp_exec::bench
