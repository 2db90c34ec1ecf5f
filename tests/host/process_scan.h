#pragma once
// Finds the processes a test caused, so it can prove none leaked and kill any that did.
//
// Tasks run in their own sessions under supervisors that outlive the plugin, so they are not
// the test's children. Two handles on them: (1) a task's environment carries its
// NOMAD_ALLOC_ID, unique per TaskFixture; (2) a test that calls BecomeSubreaper() inherits
// every orphaned descendant (a supervisor whose plugin died, a task whose supervisor died),
// so it can list, kill and reap them. Linux reads /proc; elsewhere the scans return nothing
// and BecomeSubreaper() returns false (tests then skip the leak assertions they cannot make).

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace carp_exec::test_host {

// Makes this process the reaper of its orphaned descendants (Linux PR_SET_CHILD_SUBREAPER).
bool BecomeSubreaper();

// Processes whose parent is this process, zombies included.
std::vector<pid_t> ChildProcesses();

// Processes (other than this one) whose environment holds `name=value`.
std::vector<pid_t> ProcessesWithEnv(absl::string_view name, absl::string_view value);

// Live processes (other than this one) whose command line contains `needle`.
std::vector<pid_t> ProcessesWithCmdline(absl::string_view needle);

// SIGKILLs each pid (ignoring ones already gone) and reaps those that are our children.
// Waits up to `timeout` for them to disappear; returns the ones still present.
std::vector<pid_t> KillProcesses(absl::Span<const pid_t> pids, absl::Duration timeout);

// Children of this process except `keep` (e.g. a live plugin): killed and reaped.
// Returns how many there were.
size_t KillAndReapChildren(absl::Span<const pid_t> keep, absl::Duration timeout);

// Reaps children (except `keep`) that have already exited. A subreaper must do this, as
// init would: orphaned supervisors that finish become our zombies. Returns how many.
size_t ReapExitedChildren(absl::Span<const pid_t> keep);

// Open file descriptors and threads of `pid` (-1 if unknown).
int CountOpenFds(pid_t pid);
int CountThreads(pid_t pid);

// A short description ("1234 (sleep)") for failure messages.
std::string DescribeProcess(pid_t pid);

}  // namespace carp_exec::test_host
