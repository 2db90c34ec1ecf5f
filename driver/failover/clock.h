#pragma once
// Time as the failover code sees it. Everything that waits (confirmation polls, settle, ready
// probes, the coordinator's timers) goes through a Clock, so tests run the whole state machine
// on a FakeClock without sleeping.
//
// Now() is monotonic (tasks::MonotonicNow() on the real clock): every deadline, timeout and
// interval is measured with it, so a wall-clock step (NTP at boot without an RTC, `date -s`)
// neither fires nor delays a confirmation loop or a ready timeout. WallNow() is for what a
// human reads (the check --live marker); never compare it with Now().

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace carp_exec::failover {

class Clock {
 public:
  virtual ~Clock() = default;

  // Monotonic: only differences and comparisons with other Now() values mean anything.
  virtual absl::Time Now() = 0;
  // Wall-clock time, for records and messages only.
  virtual absl::Time WallNow() = 0;

  // Blocks the caller for `duration` (no-op when <= 0).
  virtual void SleepFor(absl::Duration duration) = 0;

  // Waits, with `mu` held by the caller, until `condition` holds or `timeout` has passed on this
  // clock. Returns whether the condition holds. This is the coordinator worker's idle wait: new
  // work must wake it before its next timer is due.
  virtual bool AwaitWithTimeout(absl::Mutex* mu, const absl::Condition& condition,
                                absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;
};

// The system clock. One process-wide instance is enough; it has no state. Its waits are cut
// into tasks::kMaxWaitSlice slices re-checked against the monotonic clock (abseil turns a
// relative wait into a wall-clock deadline internally).
class RealClock final : public Clock {
 public:
  absl::Time Now() override;
  absl::Time WallNow() override;
  void SleepFor(absl::Duration duration) override;
  bool AwaitWithTimeout(absl::Mutex* mu, const absl::Condition& condition,
                        absl::Duration timeout) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
};
Clock* SystemClock();

// A clock for tests: time only moves when someone sleeps on it or calls Advance. StepWallClock
// moves WallNow() alone, as an NTP step does.
// SleepFor(d) returns at once after moving time forward by d; AwaitWithTimeout returns at once
// when the condition already holds, otherwise it moves time forward by the timeout (so a waiting
// worker fast-forwards to its next timer) and re-evaluates. An unbounded wait
// (timeout == InfiniteDuration) really blocks until the condition holds. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}

  absl::Time Now() override;
  absl::Time WallNow() override;
  void SleepFor(absl::Duration duration) override;
  bool AwaitWithTimeout(absl::Mutex* mu, const absl::Condition& condition,
                        absl::Duration timeout) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Advance(absl::Duration duration);
  void StepWallClock(absl::Duration step);
  // While frozen, AwaitWithTimeout never moves time: a waiting worker re-checks its condition
  // every few real milliseconds instead. Lets a test post several calls that must all be seen
  // before any timer (a grace period, the next poll) can fall due.
  void Freeze(bool frozen);

  // Total time handed out through SleepFor (tests assert "no wait" with it).
  absl::Duration slept();

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  absl::Duration wall_offset_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  bool frozen_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration slept_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
};

}  // namespace carp_exec::failover
