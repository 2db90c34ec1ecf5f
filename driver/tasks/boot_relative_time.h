#pragma once
// Process start times that survive clock steps.
//
// OpenBSD and FreeBSD keep a process's start as uptime and report it in kinfo_proc as boot time
// + that uptime (OpenBSD sys/kern/kern_sysctl.c fill_kproc: nanoboottime + ps_start, truncated
// to microseconds; FreeBSD sys/kern/kern_proc.c fill_kinfo_proc: getboottime + p_start). Boot
// time is the wall clock minus uptime, so stepping the clock (rdate, ntpd -s, settimeofday, a
// VM resumed from a snapshot) moves boot time and every reported start with it: a live
// supervisor would no longer match the start time recorded for it. (Slewing with adjtime does
// not move boot time: OpenBSD sys/kern/kern_tc.c changes th_boottime only in tc_setclock.)
//
// So on the BSDs a start time is kept as microseconds since boot: the reported start minus
// kern.boottime read in the same pass, retried when the boot time changed during the read.
// OpenBSD truncates boot time and start separately to microseconds, so the same process can
// come out one microsecond apart across a step: comparisons allow kStartTimeSlack. Linux needs
// none of this: /proc/<pid>/stat field 22 is already clock ticks since boot.
//
// The arithmetic and the retry are portable and tested with recorded values; only
// KernelBootTimeMicros talks to a BSD kernel.

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace carp_exec::tasks {

// How far apart two readings of the same process's start time may be (in the platform's
// start-time unit: microseconds on the BSDs, clock ticks on Linux).
#if defined(__OpenBSD__) || defined(__FreeBSD__)
inline constexpr uint64_t kStartTimeSlack = 1;
#else
inline constexpr uint64_t kStartTimeSlack = 0;
#endif

// How many times ReadAtSteadyBootTime tries before giving up.
inline constexpr int kBootTimeAttempts = 8;

// Microseconds since boot of a start the kernel reported as `start_micros` (wall clock, µs
// since the epoch) while boot time read `boot_micros`. 0 (= unknown start) when the start lies
// before boot, which only an inconsistent pair of readings can produce.
uint64_t StartSinceBoot(int64_t start_micros, int64_t boot_micros);

// True when two start times name the same process: equal within `slack`.
bool SameStartTime(uint64_t a, uint64_t b, uint64_t slack = kStartTimeSlack);

// True when `a` started before `b` by more than `slack`.
bool StartedBefore(uint64_t a, uint64_t b, uint64_t slack = kStartTimeSlack);

// Reads the boot time, runs `read`, reads the boot time again, and returns the boot time when
// both readings agree (so every start time `read` saw belongs to it); otherwise the clock was
// stepped during the read and it starts over, up to kBootTimeAttempts times. Errors: those of
// `boot_time` or `read`, or Unavailable when the clock kept moving.
absl::StatusOr<int64_t> ReadAtSteadyBootTime(
    const std::function<absl::StatusOr<int64_t>()>& boot_time,
    const std::function<absl::Status()>& read);

// kern.boottime in microseconds since the epoch (OpenBSD and FreeBSD); Unimplemented elsewhere.
absl::StatusOr<int64_t> KernelBootTimeMicros();

}  // namespace carp_exec::tasks
