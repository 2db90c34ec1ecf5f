#pragma once
// Ending a task whose supervisor the plugin cannot talk to: after RecoverTask gave up on a
// supervisor that lives but does not answer, and for a forced DestroyTask of a task this
// plugin instance never adopted. Nomad starts a replacement in both cases
// (client/allocrunner/taskrunner/task_runner.go, restoreHandle), so the old task must not keep
// running beside it.

#include <sys/types.h>

#include <string>

#include "absl/time/time.h"
#include "carp_exec/driver_state.pb.h"

namespace carp_exec::tasks {

// SIGKILLs the task's process group if its main process still has the recorded start time
// (while the stuck supervisor has not reaped it, the group id cannot be reused), then the
// supervisor if it still has its start time. Returns one clause saying what was killed, e.g.
// "killed process group 123 and supervisor 120".
std::string KillUnreachableTask(const state::ProcessIdentity& supervisor,
                                const state::ProcessIdentity& task, pid_t task_pgid);

// Waits, polling every 20 ms, until `process` is gone or a zombie (its parent is init or a
// subreaper, not us); true if it went within `limit`.
bool WaitUntilGone(const state::ProcessIdentity& process, absl::Duration limit);

}  // namespace carp_exec::tasks
