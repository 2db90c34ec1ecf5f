#include "driver/tasks/unreachable_task.h"

#include <signal.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "driver/tasks/monotonic_time.h"
#include "driver/tasks/process_identity.h"

namespace carp_exec::tasks {

std::string KillUnreachableTask(const state::ProcessIdentity& supervisor,
                                const state::ProcessIdentity& task, pid_t task_pgid) {
  std::vector<std::string> killed;
  // Never group 0/1 or the plugin's own (kill(-0) would be our group), as CheckHandle rules.
  if (task.pid() > 0 && task_pgid > 1 && task_pgid != getpgrp() &&
      IsSameProcess(task.pid(), task.start_time()) && kill(-task_pgid, SIGKILL) == 0) {
    killed.push_back(absl::StrCat("process group ", task_pgid));
  }
  if (supervisor.pid() > 1 && supervisor.pid() != getpid() &&
      IsLiveProcess(supervisor.pid(), supervisor.start_time()) &&
      kill(supervisor.pid(), SIGKILL) == 0) {
    killed.push_back(absl::StrCat("supervisor ", supervisor.pid()));
  }
  if (killed.empty()) return "nothing of it was still running";
  return absl::StrCat("killed ", absl::StrJoin(killed, " and "));
}

bool WaitUntilGone(const state::ProcessIdentity& process, absl::Duration limit) {
  const absl::Time deadline = MonotonicNow() + limit;
  while (process.pid() > 0 && IsLiveProcess(process.pid(), process.start_time())) {
    if (MonotonicNow() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

}  // namespace carp_exec::tasks
