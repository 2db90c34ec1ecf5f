#include "driver/tasks/process_stats.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

ProcessInfo Proc(pid_t pid, pid_t ppid, pid_t pgid, uint64_t start, absl::Duration user,
                 absl::Duration system, uint64_t rss) {
  ProcessInfo p;
  p.pid = pid;
  p.ppid = ppid;
  p.pgid = pgid;
  p.sid = pgid;
  p.start_time = start;
  p.user_cpu = user;
  p.system_cpu = system;
  p.rss_bytes = rss;
  return p;
}

ProcessSnapshot Snap(std::vector<ProcessInfo> processes, absl::Duration at, uint64_t sequence) {
  return ProcessSnapshot(std::move(processes), absl::UnixEpoch() + at, at, sequence);
}

TEST(CpuPercentTest, DeltaOverElapsed) {
  EXPECT_DOUBLE_EQ(CpuPercent(absl::Seconds(1), absl::Seconds(1.5), absl::Seconds(1)), 50.0);
  // Two busy cores show 200%, as Nomad reports it.
  EXPECT_DOUBLE_EQ(CpuPercent(absl::ZeroDuration(), absl::Seconds(2), absl::Seconds(1)), 200.0);
  EXPECT_EQ(CpuPercent(absl::Seconds(2), absl::Seconds(1), absl::Seconds(1)), 0.0);
  EXPECT_EQ(CpuPercent(absl::Seconds(1), absl::Seconds(2), absl::ZeroDuration()), 0.0);
}

TEST(CpuPercentTest, TicksLikeRawExec) {
  // 50% of one core on a 4-core 8000 MHz node: 0.5 × 8000 / 4 = 1000 MHz.
  EXPECT_DOUBLE_EQ(TicksConsumed(50, CpuCompute{8000, 4}), 1000.0);
  EXPECT_EQ(TicksConsumed(50, CpuCompute{}), 0.0);
}

TEST(TaskStatsSamplerTest, FirstSampleIsZeroThenDelta) {
  TaskStatsSampler sampler({"t1", 100, 5000}, CpuCompute{8000, 4});
  auto first = Snap({Proc(100, 1, 100, 5000, absl::Seconds(10), absl::Seconds(2), 4096)},
                    absl::Seconds(100), 1);
  TaskStats s1 = sampler.Sample(first);
  EXPECT_EQ(s1.task_id, "t1");
  EXPECT_EQ(s1.timestamp, absl::UnixEpoch() + absl::Seconds(100));
  EXPECT_EQ(s1.aggregate.cpu.percent, 0.0);
  EXPECT_EQ(s1.aggregate.memory.rss, 4096u);
  ASSERT_EQ(s1.by_pid.count("100"), 1u);

  // 1.5 s user + 0.5 s system over 4 s wall: 37.5% user, 12.5% system, 50% total.
  auto second = Snap({Proc(100, 1, 100, 5000, absl::Seconds(11.5), absl::Seconds(2.5), 8192)},
                     absl::Seconds(104), 2);
  TaskStats s2 = sampler.Sample(second);
  EXPECT_DOUBLE_EQ(s2.aggregate.cpu.user_mode, 37.5);
  EXPECT_DOUBLE_EQ(s2.aggregate.cpu.system_mode, 12.5);
  EXPECT_DOUBLE_EQ(s2.aggregate.cpu.percent, 50.0);
  EXPECT_DOUBLE_EQ(s2.aggregate.cpu.total_ticks, 1000.0);
  EXPECT_EQ(s2.aggregate.memory.rss, 8192u);
  EXPECT_EQ(
      s2.aggregate.cpu.measured,
      (std::vector<CpuField>{CpuField::kSystemMode, CpuField::kUserMode, CpuField::kPercent}));
  EXPECT_EQ(s2.aggregate.memory.measured, std::vector<MemoryField>{MemoryField::kRss});

  // The same snapshot again (second stream, or interval below max_age): same figures.
  TaskStats again = sampler.Sample(second);
  EXPECT_DOUBLE_EQ(again.aggregate.cpu.percent, 50.0);
}

TEST(TaskStatsSamplerTest, GroupsByPgidPlusDescendantsAndSums) {
  TaskStatsSampler sampler({"t", 100, 5000}, CpuCompute{});
  auto at = [](absl::Duration t, absl::Duration cpu, uint64_t seq) {
    return Snap(
        {
            Proc(1, 0, 1, 1, absl::Seconds(99), absl::Seconds(99), 1),   // init: not ours
            Proc(100, 50, 100, 5000, cpu, absl::ZeroDuration(), 100),    // leader
            Proc(101, 100, 100, 5001, cpu, absl::ZeroDuration(), 10),    // group member
            Proc(200, 101, 200, 5002, cpu, absl::ZeroDuration(), 1000),  // own group, our child
            Proc(201, 200, 200, 5003, cpu, absl::ZeroDuration(), 7),     // grandchild there
            Proc(300, 1, 300, 5004, cpu, absl::ZeroDuration(), 5),       // unrelated
            Proc(50, 1, 50, 10, cpu, absl::ZeroDuration(), 3),           // supervisor: parent
        },
        t, seq);
  };
  sampler.Sample(at(absl::Seconds(10), absl::Seconds(1), 1));
  TaskStats s = sampler.Sample(at(absl::Seconds(12), absl::Seconds(2), 2));
  EXPECT_EQ(s.by_pid.size(), 4u);
  for (const char* pid : {"100", "101", "200", "201"}) {
    ASSERT_EQ(s.by_pid.count(pid), 1u) << pid;
    EXPECT_DOUBLE_EQ(s.by_pid[pid].cpu.percent, 50.0) << pid;
  }
  EXPECT_DOUBLE_EQ(s.aggregate.cpu.percent, 200.0);
  EXPECT_EQ(s.aggregate.memory.rss, 100u + 10 + 1000 + 7);
}

TEST(TaskStatsSamplerTest, PidReuseOfLeaderMeansGone) {
  TaskStatsSampler sampler({"t", 100, 5000}, CpuCompute{});
  TaskStats s1 = sampler.Sample(Snap(
      {Proc(100, 1, 100, 5000, absl::Seconds(1), absl::ZeroDuration(), 1)}, absl::Seconds(1), 1));
  EXPECT_EQ(s1.by_pid.size(), 1u);
  // pid 100 now belongs to a process started later, leading its own group.
  TaskStats s2 = sampler.Sample(Snap(
      {Proc(100, 1, 100, 9000, absl::Seconds(5), absl::ZeroDuration(), 1)}, absl::Seconds(2), 2));
  EXPECT_TRUE(s2.by_pid.empty());
  EXPECT_EQ(s2.aggregate.memory.rss, 0u);
  EXPECT_TRUE(sampler.group_gone());
}

TEST(TaskStatsSamplerTest, EmptyAfterSeenIsGoneForGood) {
  TaskStatsSampler sampler({"t", 100, 5000}, CpuCompute{});
  // Not seen yet (snapshot older than the task): empty, but not gone.
  EXPECT_TRUE(sampler.Sample(Snap({}, absl::Seconds(1), 1)).by_pid.empty());
  EXPECT_FALSE(sampler.group_gone());
  sampler.Sample(Snap({Proc(100, 1, 100, 5000, absl::Seconds(1), absl::ZeroDuration(), 1)},
                      absl::Seconds(2), 2));
  sampler.Sample(Snap({}, absl::Seconds(3), 3));
  EXPECT_TRUE(sampler.group_gone());
  // A leaderless group with our number later on is someone else's.
  TaskStats s = sampler.Sample(Snap(
      {Proc(101, 1, 100, 9000, absl::Seconds(1), absl::ZeroDuration(), 1)}, absl::Seconds(4), 4));
  EXPECT_TRUE(s.by_pid.empty());
}

TEST(TaskStatsSamplerTest, LeaderExitedMembersStillCountedButNotOlderOnes) {
  TaskStatsSampler sampler({"t", 100, 5000}, CpuCompute{});
  TaskStats s = sampler.Sample(Snap(
      {
          Proc(101, 1, 100, 5001, absl::Seconds(1), absl::ZeroDuration(), 10),  // orphaned member
          Proc(102, 1, 100, 4000, absl::Seconds(1), absl::ZeroDuration(), 20),  // older: not ours
      },
      absl::Seconds(1), 1));
  EXPECT_EQ(s.by_pid.size(), 1u);
  EXPECT_EQ(s.by_pid.count("101"), 1u);
}

TEST(TaskStatsSamplerTest, ReusedMemberPidRestartsAtZero) {
  TaskStatsSampler sampler({"t", 100, 5000}, CpuCompute{});
  sampler.Sample(Snap({Proc(100, 1, 100, 5000, absl::Seconds(1), absl::ZeroDuration(), 1),
                       Proc(101, 100, 100, 5001, absl::Seconds(50), absl::ZeroDuration(), 1)},
                      absl::Seconds(1), 1));
  // 101 exited and a new child got the same pid: its counters are not comparable.
  TaskStats s =
      sampler.Sample(Snap({Proc(100, 1, 100, 5000, absl::Seconds(1), absl::ZeroDuration(), 1),
                           Proc(101, 100, 100, 5050, absl::Seconds(51), absl::ZeroDuration(), 1)},
                          absl::Seconds(2), 2));
  EXPECT_EQ(s.by_pid["101"].cpu.percent, 0.0);
}

TEST(TaskStatsSamplerTest, SwapMeasuredWhenKnown) {
  TaskStatsSampler sampler({"t", 100, 0}, CpuCompute{});
  ProcessInfo p = Proc(100, 1, 100, 5000, absl::ZeroDuration(), absl::ZeroDuration(), 1);
  p.swap_bytes = 4096;
  TaskStats s = sampler.Sample(Snap({p}, absl::Seconds(1), 1));
  EXPECT_EQ(s.aggregate.memory.swap, 4096u);
  EXPECT_EQ(s.aggregate.memory.measured,
            (std::vector<MemoryField>{MemoryField::kRss, MemoryField::kSwap}));
}

class CountingSource : public ProcessSource {
 public:
  absl::StatusOr<std::vector<ProcessInfo>> ListProcesses() const override {
    ++calls;
    return std::vector<ProcessInfo>{
        Proc(100, 1, 100, 1, absl::ZeroDuration(), absl::ZeroDuration(), 1)};
  }
  mutable std::atomic<int> calls{0};
};

TEST(ProcessTableTest, OneScanServesEveryTaskWithinMaxAge) {
  auto source = std::make_shared<CountingSource>();
  absl::Duration now = absl::Seconds(1000);
  ProcessTable::Options options;
  options.max_age = absl::Milliseconds(250);
  options.monotonic_clock = [&now] { return now; };
  ProcessTable table(source, options);

  std::vector<std::unique_ptr<TaskStatsSampler>> samplers;
  for (int i = 0; i < 1000; ++i) {
    samplers.push_back(std::make_unique<TaskStatsSampler>(
        TaskProcessGroup{absl::StrCat("t", i), 100 + i, 0}, CpuCompute{}));
  }
  for (auto& sampler : samplers) {
    auto snapshot = table.Snapshot();
    ASSERT_TRUE(snapshot.ok());
    sampler->Sample(**snapshot);
  }
  EXPECT_EQ(source->calls.load(), 1);
  now += absl::Milliseconds(249);
  ASSERT_TRUE(table.Snapshot().ok());
  EXPECT_EQ(source->calls.load(), 1);
  now += absl::Milliseconds(1);
  auto fresh = table.Snapshot();
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(source->calls.load(), 2);
  EXPECT_EQ((*fresh)->sequence(), 2u);
  EXPECT_EQ(table.scans(), 2u);
}

TEST(ProcessTableTest, ConcurrentCallersShareOneScan) {
  auto source = std::make_shared<CountingSource>();
  ProcessTable table(source);  // 250 ms: the threads below finish well within it
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 100; ++j) {
        if (table.Snapshot().ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 800);
  EXPECT_LE(source->calls.load(), 8);  // at least one; never one per call
}

TEST(LinuxProcParseTest, StatLineWithAwkwardComm) {
  const char* line =
      "4242 (we ird) (name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 "
      "123456 10000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  ProcessInfo info;
  ASSERT_TRUE(ParseLinuxProcStat(line, 100, 4096, &info));
  EXPECT_EQ(info.pid, 4242);
  EXPECT_EQ(info.ppid, 1);
  EXPECT_EQ(info.pgid, 4242);
  EXPECT_EQ(info.sid, 4242);
  EXPECT_EQ(info.user_cpu, absl::Milliseconds(2500));
  EXPECT_EQ(info.system_cpu, absl::Milliseconds(500));
  EXPECT_EQ(info.start_time, 123456u);
  EXPECT_EQ(info.rss_bytes, 300u * 4096);
  EXPECT_FALSE(ParseLinuxProcStat("4242 (x) S 1 2", 100, 4096, &info));
  EXPECT_FALSE(ParseLinuxProcStat("garbage", 100, 4096, &info));
}

TEST(LinuxProcParseTest, VmSwap) {
  EXPECT_EQ(ParseLinuxVmSwap("Name:\tx\nVmRSS:\t  100 kB\nVmSwap:\t      12 kB\n"),
            std::optional<uint64_t>(12 * 1024));
  EXPECT_EQ(ParseLinuxVmSwap("Name:\tkthreadd\n"), std::nullopt);
}

#ifdef __linux__
// Real processes: a busy child in its own group shows CPU > 0 and RSS > 0.
TEST(NativeProcessStatsTest, BusyChildUsesCpuAndMemory) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    setpgid(0, 0);
    volatile uint64_t spin = 0;
    while (true) spin = spin + 1;
  }
  setpgid(child, child);  // both sides, so the group exists before we sample
  auto source = NativeProcessSource();
  ProcessTable::Options options;
  options.max_age = absl::ZeroDuration();
  ProcessTable table(source, options);

  auto first = table.Snapshot();
  ASSERT_TRUE(first.ok()) << first.status();
  const ProcessInfo* info = (*first)->Find(child);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->pgid, child);
  EXPECT_EQ(info->ppid, getpid());
  TaskStatsSampler sampler({"busy", child, info->start_time}, CpuCompute{2000, 1});
  sampler.Sample(**first);

  // CPU time advances in clock ticks: sample until it moved (bounded to 5 s).
  TaskStats stats;
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  do {
    absl::SleepFor(absl::Milliseconds(50));
    auto next = table.Snapshot();
    ASSERT_TRUE(next.ok());
    stats = sampler.Sample(**next);
  } while (stats.aggregate.cpu.percent == 0 && absl::Now() < give_up);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);

  EXPECT_GT(stats.aggregate.cpu.percent, 0.0);
  EXPECT_GT(stats.aggregate.cpu.user_mode, 0.0);
  EXPECT_GT(stats.aggregate.cpu.total_ticks, 0.0);
  EXPECT_GT(stats.aggregate.memory.rss, 0u);
  EXPECT_EQ(stats.by_pid.count(absl::StrCat(child)), 1u);
  EXPECT_EQ(stats.aggregate.memory.measured,
            (std::vector<MemoryField>{MemoryField::kRss, MemoryField::kSwap}));
}

TEST(NativeProcessStatsTest, ScanSeesOurselves) {
  auto snapshot = ProcessTable(NativeProcessSource()).Snapshot();
  ASSERT_TRUE(snapshot.ok());
  const ProcessInfo* self = (*snapshot)->Find(getpid());
  ASSERT_NE(self, nullptr);
  EXPECT_EQ(self->pgid, getpgrp());
  EXPECT_GT(self->rss_bytes, 0u);
  EXPECT_GT(self->start_time, 0u);
}
#endif

}  // namespace
}  // namespace carp_exec::tasks
