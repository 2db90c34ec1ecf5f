#pragma once
// The signal state every posix_spawn of ours gives its child: an empty mask and every catchable
// signal reset to its default action, whatever the spawning thread (gRPC, a test, the plugin's
// SIGINT/SIGPIPE ignores) had.
//
// SIGKILL and SIGSTOP are never in the reset set. OpenBSD's libc posix_spawn
// (lib/libc/gen/posix_spawn.c, process_spawnattr) calls sigaction(SIG_DFL) in the child for
// every member of the set and gives up with _exit(127) on the first error; the kernel refuses
// any sigaction on those two (sys/kern/kern_sig.c, sys_sigaction: EINVAL). posix_spawn has
// already returned 0 to the parent by then, so the child just vanishes with status 127. glibc
// skips the two silently, which is why a sigfillset() set works on Linux only.

#include <signal.h>
#include <spawn.h>

namespace carp_exec::tasks {

// Every signal from 1 to NSIG-1 except SIGKILL and SIGSTOP.
sigset_t SpawnDefaultSignals();

// Sets an empty signal mask and SpawnDefaultSignals() on `attr`, and its flags to
// `other_flags` | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF (posix_spawnattr_setflags
// replaces the flags, so pass every other flag the spawn needs, e.g. POSIX_SPAWN_SETPGROUP).
// `attr` must be initialised. Returns 0 or the errno value of the first failing call.
int SetSpawnSignalDefaults(posix_spawnattr_t* attr, short other_flags = 0);

}  // namespace carp_exec::tasks
