#pragma once
// Time for deadlines, timeouts and intervals: CLOCK_MONOTONIC, expressed as absl::Time so the
// usual arithmetic works. Wall time (absl::Now()) is for events and logs only: an NTP step at
// boot on a node without an RTC, or an operator's `date -s`, must neither fire nor delay a
// confirmation loop, a ready timeout or a SIGKILL escalation.
//
// A monotonic absl::Time is only comparable with another one: never format it, store it, or
// pass it to an absl API that takes an absolute deadline (CondVar::WaitWithDeadline,
// Mutex::AwaitWithDeadline, Notification::WaitForNotificationWithDeadline), which read it as
// wall time. Wait with a relative timeout instead, through WaitSlice().

#include <time.h>

#include <algorithm>

#include "absl/time/time.h"

namespace carp_exec::tasks {

// CLOCK_MONOTONIC since an arbitrary origin (boot on Linux and the BSDs), as an absl::Time.
// Header-only so every library (tasks, task tools, failover) can use it without a link edge.
inline absl::Time MonotonicNow() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);  // cannot fail with a valid pointer
  return absl::UnixEpoch() + absl::DurationFromTimespec(ts);
}

// abseil's relative waits are turned into wall-clock deadlines inside the library, so a wall
// step during one wait lengthens or shortens that wait. Every wait on a monotonic deadline is
// therefore cut into slices of at most this, re-checking MonotonicNow() in between: a backward
// step delays a timer by at most one slice, a forward one only wakes the waiter early.
inline constexpr absl::Duration kMaxWaitSlice = absl::Milliseconds(250);

// How long to wait now for a monotonic `deadline`: min(deadline - now, kMaxWaitSlice), never
// negative.
inline absl::Duration WaitSlice(absl::Time deadline, absl::Time now) {
  return std::clamp(deadline - now, absl::ZeroDuration(), kMaxWaitSlice);
}

}  // namespace carp_exec::tasks
