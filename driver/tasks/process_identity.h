#pragma once
// Facts about processes that the OS knows and we must not guess: when a pid was started (to tell
// a process from a later one that reuses its pid) and where our own executable lives.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace carp_exec::tasks {

// An opaque start time of `pid` that a clock step does not change, or nullopt if no such
// process exists (zombies included on Linux: they still have one). Linux: /proc/<pid>/stat
// field 22 (clock ticks since boot); FreeBSD/OpenBSD: the kinfo_proc start in microseconds
// since boot (boot_relative_time.h). Compare two with SameStartTime, never with ==.
std::optional<uint64_t> ProcessStartTime(pid_t pid);

// True if `pid` exists and still has the recorded start time (SameStartTime).
bool IsSameProcess(pid_t pid, uint64_t start_time);

// True if `pid` has the recorded start time and is not a zombie: it can still act.
bool IsLiveProcess(pid_t pid, uint64_t start_time);

// Absolute path of the running executable: Linux /proc/self/exe, FreeBSD
// KERN_PROC_PATHNAME, elsewhere (OpenBSD has no such call) `argv0` made absolute with
// realpath, searched in PATH when it has no slash.
absl::StatusOr<std::string> CurrentExecutablePath(absl::string_view argv0);

}  // namespace carp_exec::tasks
