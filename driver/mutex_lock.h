#pragma once
// carp_exec::MutexLock: the scoped lock every source uses instead of absl::MutexLock, so the
// code builds without deprecation warnings against both Abseil generations we support.
//
// Abseil 20250814 added `MutexLock(Mutex&)` and `Mutex::lock()`/`unlock()`; 20260107 marked
// the pointer constructor `MutexLock(Mutex*)` and `Mutex::Lock()`/`Unlock()` deprecated
// (abseil-cpp absl/synchronization/mutex.h at those LTS tags). Debian 12 ships 20220623,
// which has only the pointer constructor and `Lock()`/`Unlock()`. Under -Werror neither
// spelling builds with both, hence this class, chosen on ABSL_LTS_RELEASE_VERSION (absent
// in a build from Abseil's head, which counts as newest).
//
// It carries the same thread-safety annotations as absl::MutexLock, so -Wthread-safety sees
// `mu` held for the object's scope exactly as before.

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#if !defined(ABSL_LTS_RELEASE_VERSION) || ABSL_LTS_RELEASE_VERSION >= 20250814
#define CARP_ABSL_MUTEX_LOWERCASE_LOCK 1
#else
#define CARP_ABSL_MUTEX_LOWERCASE_LOCK 0
#endif

namespace carp_exec {

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(absl::Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
#if CARP_ABSL_MUTEX_LOWERCASE_LOCK
    mu_.lock();
#else
    mu_.Lock();
#endif
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() {
#if CARP_ABSL_MUTEX_LOWERCASE_LOCK
    mu_.unlock();
#else
    mu_.Unlock();
#endif
  }

  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;
  MutexLock(MutexLock&&) = delete;
  MutexLock& operator=(MutexLock&&) = delete;

 private:
  absl::Mutex& mu_;
};

}  // namespace carp_exec
