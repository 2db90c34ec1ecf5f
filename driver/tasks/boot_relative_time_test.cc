// Start times relative to boot (boot_relative_time.h), driven by a model of how OpenBSD and
// FreeBSD report them: boot time in nanoseconds, each process's start as uptime, kinfo_proc's
// start = truncate_to_µs(boot + uptime at start) (OpenBSD sys/kern/kern_sysctl.c fill_kproc)
// and kern.boottime = truncate_to_µs(boot) (microboottime). Stepping the model's clock moves
// boot time, as settimeofday does (sys/kern/kern_tc.c tc_setclock).
#include "driver/tasks/boot_relative_time.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

constexpr int64_t kSecond = 1000000000;  // ns

class FakeBsdKernel {
 public:
  explicit FakeBsdKernel(int64_t boot_ns) : boot_ns_(boot_ns) {}

  void StepClock(int64_t delta_ns) { boot_ns_ += delta_ns; }
  int64_t BootTimeMicros() const { return boot_ns_ / 1000; }
  // What kinfo_proc says for a process that started `uptime_ns` after boot.
  int64_t ReportedStartMicros(int64_t uptime_ns) const { return (boot_ns_ + uptime_ns) / 1000; }

 private:
  int64_t boot_ns_;
};

// One identity check as process_identity.cc does it: boot time, kinfo_proc, boot time.
uint64_t ReadStart(FakeBsdKernel& kernel, int64_t uptime_ns) {
  int64_t reported = 0;
  absl::StatusOr<int64_t> boot = ReadAtSteadyBootTime(
      [&kernel]() -> absl::StatusOr<int64_t> { return kernel.BootTimeMicros(); },
      [&] {
        reported = kernel.ReportedStartMicros(uptime_ns);
        return absl::OkStatus();
      });
  EXPECT_TRUE(boot.ok()) << boot.status();
  return StartSinceBoot(reported, *boot);
}

constexpr uint64_t kBsdSlack = 1;  // what kStartTimeSlack is on the BSDs

TEST(BootRelativeTimeTest, ClockStepsDoNotChangeALiveProcessIdentity) {
  FakeBsdKernel kernel(1700000000 * kSecond + 123456789);
  const int64_t supervisor_uptime = 3600 * kSecond + 987654321;
  const uint64_t recorded = ReadStart(kernel, supervisor_uptime);
  ASSERT_NE(recorded, 0u);
  // rdate forward, ntpd -s backward, a VM resumed days later, and sub-microsecond steps that
  // change how the two truncations round.
  const std::vector<int64_t> steps = {
      3600 * kSecond, -7200 * kSecond, 3 * 86400 * kSecond, 1, 999, -1, -999, 500, 123456, -654321};
  for (int64_t step : steps) {
    kernel.StepClock(step);
    const uint64_t now = ReadStart(kernel, supervisor_uptime);
    EXPECT_TRUE(SameStartTime(recorded, now, kBsdSlack))
        << "after a step of " << step << " ns: recorded " << recorded << ", now " << now;
  }
}

TEST(BootRelativeTimeTest, WallClockStartTimesWouldHaveCalledTheSupervisorLost) {
  // The comparison carp_exec made before: raw kinfo_proc start times.
  FakeBsdKernel kernel(1700000000 * kSecond);
  const int64_t uptime = 42 * kSecond;
  const int64_t recorded = kernel.ReportedStartMicros(uptime);
  kernel.StepClock(90 * kSecond);
  EXPECT_NE(kernel.ReportedStartMicros(uptime), recorded);
}

TEST(BootRelativeTimeTest, ALaterProcessWithTheSamePidIsADifferentProcess) {
  FakeBsdKernel kernel(1700000000 * kSecond + 777);
  const uint64_t old_start = ReadStart(kernel, 100 * kSecond);
  kernel.StepClock(-5 * kSecond);
  // The pid was reused 2 µs later (the old one had exited and been reaped).
  const uint64_t new_start = ReadStart(kernel, 100 * kSecond + 2000);
  EXPECT_FALSE(SameStartTime(old_start, new_start, kBsdSlack));
  EXPECT_TRUE(StartedBefore(old_start, new_start, kBsdSlack));
  EXPECT_FALSE(StartedBefore(new_start, old_start, kBsdSlack));
}

TEST(BootRelativeTimeTest, AStepDuringTheReadIsRetriedSoStartAndBootTimeMatch) {
  FakeBsdKernel kernel(1700000000 * kSecond);
  const int64_t uptime = 10 * kSecond;
  const uint64_t truth = static_cast<uint64_t>(uptime / 1000);
  int reads = 0;
  int64_t reported = 0;
  absl::StatusOr<int64_t> boot = ReadAtSteadyBootTime(
      [&kernel]() -> absl::StatusOr<int64_t> { return kernel.BootTimeMicros(); },
      [&] {
        reported = kernel.ReportedStartMicros(uptime);
        // The first read races a step of one hour: its start belongs to the old boot time.
        if (++reads == 1) kernel.StepClock(3600 * kSecond);
        return absl::OkStatus();
      });
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(reads, 2);
  EXPECT_EQ(StartSinceBoot(reported, *boot), truth);
}

TEST(BootRelativeTimeTest, AClockThatKeepsSteppingIsAnErrorNotAWrongIdentity) {
  FakeBsdKernel kernel(1700000000 * kSecond);
  int reads = 0;
  absl::StatusOr<int64_t> boot = ReadAtSteadyBootTime(
      [&kernel]() -> absl::StatusOr<int64_t> { return kernel.BootTimeMicros(); },
      [&] {
        ++reads;
        kernel.StepClock(kSecond);
        return absl::OkStatus();
      });
  EXPECT_EQ(boot.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(reads, kBootTimeAttempts);
  EXPECT_NE(boot.status().message().find("kern.boottime"), std::string::npos);
}

TEST(BootRelativeTimeTest, ErrorsOfTheReadsAreReturned) {
  absl::StatusOr<int64_t> no_boot = ReadAtSteadyBootTime(
      []() -> absl::StatusOr<int64_t> { return absl::UnavailableError("no sysctl"); },
      [] { return absl::OkStatus(); });
  EXPECT_EQ(no_boot.status().message(), "no sysctl");
  absl::StatusOr<int64_t> no_table =
      ReadAtSteadyBootTime([]() -> absl::StatusOr<int64_t> { return 5; },
                           [] { return absl::UnavailableError("no table"); });
  EXPECT_EQ(no_table.status().message(), "no table");
}

TEST(BootRelativeTimeTest, AStartBeforeBootIsUnknown) {
  EXPECT_EQ(StartSinceBoot(99, 100), 0u);
  EXPECT_EQ(StartSinceBoot(100, 100), 0u);
  EXPECT_EQ(StartSinceBoot(150, 100), 50u);
}

TEST(BootRelativeTimeTest, LinuxComparesExactly) {
  // Linux start times are clock ticks since boot: no slack.
  EXPECT_TRUE(SameStartTime(500, 500, 0));
  EXPECT_FALSE(SameStartTime(500, 501, 0));
  EXPECT_TRUE(StartedBefore(500, 501, 0));
}

}  // namespace
}  // namespace carp_exec::tasks
