#include "driver/failover/clock.h"

#include "absl/time/clock.h"
#include "driver/mutex_lock.h"
#include "driver/tasks/monotonic_time.h"

namespace carp_exec::failover {

absl::Time RealClock::Now() { return tasks::MonotonicNow(); }

absl::Time RealClock::WallNow() { return absl::Now(); }

void RealClock::SleepFor(absl::Duration duration) {
  if (duration > absl::ZeroDuration()) absl::SleepFor(duration);
}

bool RealClock::AwaitWithTimeout(absl::Mutex* mu, const absl::Condition& condition,
                                 absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) {
    mu->Await(condition);
    return true;
  }
  const absl::Time deadline = Now() + timeout;
  for (;;) {
    const absl::Time now = Now();
    if (now >= deadline) return condition.Eval();
    if (mu->AwaitWithTimeout(condition, tasks::WaitSlice(deadline, now))) return true;
  }
}

Clock* SystemClock() {
  static RealClock* clock = new RealClock();
  return clock;
}

absl::Time FakeClock::Now() {
  carp_exec::MutexLock lock(mu_);
  return now_;
}

absl::Time FakeClock::WallNow() {
  carp_exec::MutexLock lock(mu_);
  return now_ + wall_offset_;
}

void FakeClock::Freeze(bool frozen) {
  carp_exec::MutexLock lock(mu_);
  frozen_ = frozen;
}

void FakeClock::StepWallClock(absl::Duration step) {
  carp_exec::MutexLock lock(mu_);
  wall_offset_ += step;
}

void FakeClock::SleepFor(absl::Duration duration) {
  if (duration <= absl::ZeroDuration()) return;
  carp_exec::MutexLock lock(mu_);
  now_ += duration;
  slept_ += duration;
}

bool FakeClock::AwaitWithTimeout(absl::Mutex* mu, const absl::Condition& condition,
                                 absl::Duration timeout) {
  if (condition.Eval()) return true;
  if (timeout == absl::InfiniteDuration()) {
    mu->Await(condition);
    return true;
  }
  bool frozen;
  {
    carp_exec::MutexLock lock(mu_);
    frozen = frozen_;
  }
  if (frozen) return mu->AwaitWithTimeout(condition, absl::Milliseconds(2));
  // Give other threads a real moment to post work before time jumps: this keeps tests that
  // post an event right after a wait begins from racing the fast-forward in the common case.
  // Correctness never depends on it; the result is re-evaluated either way.
  if (mu->AwaitWithTimeout(condition, absl::Milliseconds(1))) return true;
  Advance(timeout);
  return condition.Eval();
}

void FakeClock::Advance(absl::Duration duration) {
  carp_exec::MutexLock lock(mu_);
  now_ += duration;
}

absl::Duration FakeClock::slept() {
  carp_exec::MutexLock lock(mu_);
  return slept_;
}

}  // namespace carp_exec::failover
