#include "driver/tasks/spawn_signals.h"

namespace carp_exec::tasks {

sigset_t SpawnDefaultSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signo = 1; signo < NSIG; ++signo) {
    if (signo != SIGKILL && signo != SIGSTOP) sigaddset(&set, signo);
  }
  return set;
}

int SetSpawnSignalDefaults(posix_spawnattr_t* attr, short other_flags) {
  sigset_t empty;
  sigemptyset(&empty);
  const sigset_t defaults = SpawnDefaultSignals();
  if (int rc = posix_spawnattr_setsigmask(attr, &empty); rc != 0) return rc;
  if (int rc = posix_spawnattr_setsigdefault(attr, &defaults); rc != 0) return rc;
  return posix_spawnattr_setflags(
      attr, static_cast<short>(other_flags | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
}

}  // namespace carp_exec::tasks
