// TaskRunner: a forced DestroyTask of a task this runner never adopted.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "driver/log/hclog.h"
#include "driver/mutex_lock.h"
#include "driver/tasks/state_dir.h"
#include "driver/tasks/supervisor_protocol.h"
#include "driver/tasks/task_runner.h"
#include "driver/tasks/unreachable_task.h"

namespace carp_exec::tasks {
namespace {

absl::Status UnknownTask(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("task \"", id,
                                          "\" not found: it was never started or recovered by "
                                          "this plugin, or was destroyed"));
}

}  // namespace

absl::StatusOr<TaskStatus> TaskRunner::DestroyUnknown(absl::string_view task_id) {
  {
    carp_exec::MutexLock lock(mu_);
    // Known (or being started/recovered right now): not an orphan; the caller's Destroy rules.
    if (tasks_.contains(task_id)) return UnknownTask(task_id);
  }
  const std::string dir = TaskStateDir(options_.state_dir, task_id);
  state::LaunchSpec spec;
  if (!ReadMessage(absl::StrCat(dir, "/", kSpecFile), &spec).ok() || spec.task_id() != task_id) {
    return UnknownTask(task_id);  // no such directory, or the hash names another task
  }
  std::string what = "its exit was recorded";
  state::ProcessRecord record;
  state::ExitRecord exit;
  const bool exited = ReadMessage(absl::StrCat(dir, "/", kExitFile), &exit).ok();
  if (!exited && ReadMessage(absl::StrCat(dir, "/", kPidFile), &record).ok()) {
    // Gently first: the supervisor kills the group while the task is still its child.
    absl::StatusOr<std::string> asked =
        AskSupervisor(absl::StrCat(dir, "/", kSocketFile), "signal 9", absl::Seconds(2));
    if (asked.ok() && *asked == "ok" &&
        WaitUntilGone(record.supervisor(), std::min(options_.kill_grace, absl::Seconds(5)))) {
      what = "its supervisor killed the task's process group";
    } else {
      what = KillUnreachableTask(record.supervisor(), record.task(), record.task_pgid());
      (void)WaitUntilGone(record.supervisor(), options_.kill_grace);
    }
  } else if (!exited) {
    what = "it never recorded a process";
  }
  log::Warn("tasks", "forced destroy of a task this plugin had not recovered",
            {{"task_id", std::string(task_id)}, {"dir", dir}, {"outcome", what}});
  if (absl::Status removed = RemoveTaskDir(dir); !removed.ok()) return removed;
  TaskStatus status;
  status.task_id = std::string(task_id);
  status.alloc_id = spec.alloc_id();
  status.task_name = spec.task_name();
  status.state = TaskState::kExited;
  status.guarded = spec.guarded();
  status.ready = spec.ready();
  return status;
}

}  // namespace carp_exec::tasks
