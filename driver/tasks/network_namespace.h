#pragma once
// The group network namespace Nomad gives a task (TaskConfig.network_isolation_spec, mode GROUP:
// the alloc's bridge-mode namespace, a path such as /var/run/netns/<alloc id>). raw_exec runs
// the task and every exec session in it (drivers/shared/executor/executor_universal_linux.go,
// withNetworkIsolation, used for the task, ExecScript and ExecStreaming); carp_exec does the
// same: the supervisor joins it before it forks the task, and an exec child joins it before it
// drops privileges. Linux only: on OpenBSD and FreeBSD Nomad creates no namespace
// (client/allocrunner/network_manager_nonlinux.go), so the spec never carries a path there.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace carp_exec::tasks {

// Opens `path` (close-on-exec) for JoinNetworkNamespaceFd. Empty path ⇒ -1 (stay in the host
// namespace). Errors name the path: not absolute, cannot be opened, or not Linux.
absl::StatusOr<int> OpenNetworkNamespace(const std::string& path);

// setns(fd, CLONE_NEWNET) for the calling thread; fd < 0 ⇒ nothing. Returns 0, or -1 with errno
// set (EINVAL: fd is not a network namespace; EPERM: not root). Async-signal-safe: callable in
// a child forked from a multithreaded process.
int JoinNetworkNamespaceFd(int fd);

// Opens and joins `path` in one step, then closes the fd: for the single-threaded supervisor.
// `*error_number` gets the errno of the failed step (0 on success).
absl::Status JoinNetworkNamespace(const std::string& path, int* error_number);

}  // namespace carp_exec::tasks
