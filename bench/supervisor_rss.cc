// Memory cost of the per-task supervisor: starts N sleeping tasks under real supervisors and
// prints each supervisor's Rss, Pss and Private_Dirty from /proc/<pid>/smaps_rollup (Linux).
//
//   supervisor_rss [--supervisor=<exe answering "supervise">] [--tasks=50] [--hold=SECONDS]
//
// By default it measures the real plugin binary (build/carp_exec): the supervisor
// is that binary in another mode, so its shared libraries are mapped and counted in Rss even
// though most of their pages are shared with every other supervisor (Pss tells that share).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "driver/log/hclog.h"
#include "driver/tasks/process_identity.h"
#include "driver/tasks/task_runner.h"

namespace {

using carp_exec::tasks::LaunchSpec;
using carp_exec::tasks::TaskRunner;
using carp_exec::tasks::TaskRunnerOptions;

// kB values of the smaps_rollup fields we report.
std::map<std::string, long> ReadRollup(pid_t pid) {
  std::map<std::string, long> fields;
  FILE* f = fopen(absl::StrCat("/proc/", pid, "/smaps_rollup").c_str(), "r");
  if (f == nullptr) return fields;
  char line[256];
  while (fgets(line, sizeof(line), f)) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    if (parts.size() >= 2 && absl::EndsWith(parts[0], ":")) {
      long kb = 0;
      if (absl::SimpleAtoi(parts[1], &kb)) fields[parts[0].substr(0, parts[0].size() - 1)] = kb;
    }
  }
  fclose(f);
  return fields;
}

void PrintStat(const char* name, std::vector<long> values) {
  if (values.empty()) return;
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (long v : values) sum += static_cast<double>(v);
  printf("  %-14s mean %7.1f KiB   min %6ld   median %6ld   max %6ld\n", name,
         sum / static_cast<double>(values.size()), values.front(), values[values.size() / 2],
         values.back());
}

}  // namespace

int main(int argc, char** argv) {
  // Default: the plugin binary, which the build puts at build/carp_exec (this is build/bench/).
  std::string supervisor;
  if (absl::StatusOr<std::string> self = carp_exec::tasks::CurrentExecutablePath(argv[0]);
      self.ok()) {
    supervisor = self->substr(0, self->rfind('/')) + "/../carp_exec";
  }
  int tasks = 50;
  int hold_seconds = 0;  // keep the tasks alive a while, to look at them by hand
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--supervisor=")) {
      supervisor = std::string(arg);
    } else if (absl::ConsumePrefix(&arg, "--tasks=") && absl::SimpleAtoi(arg, &tasks) &&
               tasks > 0) {
    } else if (absl::ConsumePrefix(&arg, "--hold=") && absl::SimpleAtoi(arg, &hold_seconds)) {
    } else {
      fprintf(stderr, "usage: %s [--supervisor=<exe>] [--tasks=N] [--hold=SECONDS]\n", argv[0]);
      return 2;
    }
  }
  carp_exec::log::SetLevel(carp_exec::log::Level::kWarn);
  char pattern[] = "/tmp/csr.XXXXXX";
  if (mkdtemp(pattern) == nullptr) return 1;
  std::string root = pattern;
  TaskRunnerOptions options;
  options.state_dir = root + "/state";
  options.supervisor_path = supervisor;
  absl::StatusOr<std::unique_ptr<TaskRunner>> runner = TaskRunner::Create(options);
  if (!runner.ok()) {
    fprintf(stderr, "%s\n", std::string(runner.status().message()).c_str());
    (void)!system(absl::StrCat("rm -rf '", root, "'").c_str());
    return 1;
  }
  std::vector<std::string> ids;
  for (int i = 0; i < tasks; ++i) {
    LaunchSpec spec;
    spec.task_id = absl::StrCat("bench/rss/", i);
    spec.command = "/bin/sleep";
    spec.args = {"1000"};
    spec.task_dir = root;
    absl::StatusOr<carp_exec::tasks::StartedTask> started = (*runner)->Start(spec);
    if (!started.ok()) {
      fprintf(stderr, "start %d: %s\n", i, std::string(started.status().message()).c_str());
      break;
    }
    ids.push_back(spec.task_id);
  }
  std::map<std::string, std::vector<long>> by_field;
  for (const auto& task : (*runner)->RunningProcesses()) {
    for (const auto& [name, kb] : ReadRollup(task.supervisor_pid)) by_field[name].push_back(kb);
  }
  printf("supervisor memory, %zu supervisors of %s\n", ids.size(), supervisor.c_str());
  for (const char* field : {"Rss", "Pss", "Private_Dirty", "Private_Clean", "Shared_Clean",
                            "Shared_Dirty", "Anonymous"}) {
    PrintStat(field, by_field[field]);
  }
  fflush(stdout);
  if (hold_seconds > 0) sleep(static_cast<unsigned>(hold_seconds));
  for (const std::string& id : ids) (void)(*runner)->Destroy(id, /*force=*/true);
  runner->reset();
  std::string cleanup = absl::StrCat("rm -rf '", root, "'");
  return system(cleanup.c_str()) == 0 ? 0 : 1;
}
