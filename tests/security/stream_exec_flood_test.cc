// Attack 2 of issue 9: `nomad alloc exec` pushing stdin into a command that never reads it
// made the plugin buffer all of it (400 MiB took it from 11 MB to 586 MB RSS). Run against
// the real plugin binary through the test host: the flood must stall at the plugin's stdin cap
// (ExecSession::kStdinPendingCap, exec_session.h) with the plugin's peak RSS (VmHWM) flat,
// output to a client that stops reading must stay bounded as well, and flow control must not
// lose or reorder a byte for a command that does read.

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "driver/host/plugin_host.h"
#include "driver/tasks/exec_session.h"
#include "gtest/gtest.h"
#include "tests/conformance/lifecycle_support.h"
#include "tests/host/exec_client.h"

namespace carp_exec::conformance {
namespace {

using test_host::ExecPlan;
using test_host::ExecRun;
using test_host::ProcessStatusKb;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kFloodBytes = 256 * kMiB;

// The most the plugin's peak RSS may grow while one session is flooded: the stdin cap, one
// request at the receive limit, the output queue's bound (4 MiB), plus 16 MiB for gRPC's
// transport buffers and the allocator. Before the fix the growth was the whole flood.
constexpr long kRssGrowthBoundKb =
    static_cast<long>((tasks::ExecSession::kStdinPendingCap +
                       host::PluginHost::kMaxReceiveMessageBytes + 4 * kMiB + 16 * kMiB) /
                      1024);
static_assert(kRssGrowthBoundKb * 1024 < static_cast<long>(kFloodBytes) / 4,
              "the bound must be far below the flood, or the test could not fail");

class StreamExecFloodTest : public LifecycleTest {
 protected:
  void SetUp() override {
    LifecycleTest::SetUp();
    if (HasFatalFailure()) return;
    if (ProcessStatusKb(plugin_->pid(), "VmHWM") < 0) GTEST_SKIP() << "needs /proc (Linux)";
    task_id_ = StartScript("exec sleep 1000").id();
    // Warm up: one session through every path, so threads, arenas and gRPC buffers that any
    // session allocates are in the baseline.
    ExecPlan warm = Plan({"/bin/cat"});
    warm.stdin_bytes = 4 * kMiB;
    const ExecRun run = test_host::RunExecStream(plugin_->driver(), warm);
    ASSERT_TRUE(run.status.ok()) << run.status.error_message();
    ASSERT_EQ(run.stdout_bytes, 4 * kMiB);
    baseline_kb_ = ProcessStatusKb(plugin_->pid(), "VmHWM");
  }

  ExecPlan Plan(std::vector<std::string> command) const {
    ExecPlan plan;
    plan.task_id = task_id_;
    plan.command = std::move(command);
    return plan;
  }

  void ExpectPluginHealthy() {
    absl::StatusOr<test_host::ServingStatus> health = plugin_->Health();
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_EQ(*health, test_host::ServingStatus::kServing);
  }

  long GrowthKb() const { return ProcessStatusKb(plugin_->pid(), "VmHWM") - baseline_kb_; }

  std::string task_id_;
  long baseline_kb_ = 0;
};

TEST_F(StreamExecFloodTest, ExecStdinFloodKeepsRssFlat) {
  ExecPlan plan = Plan({"/bin/sleep", "1000"});
  plan.stdin_bytes = kFloodBytes;
  const ExecRun run = test_host::RunExecStream(plugin_->driver(), plan);
  // The client is held back by HTTP/2 flow control: `sleep` takes nothing, so only the cap
  // and the transport's windows fit before the writes block and the watchdog gives up.
  EXPECT_TRUE(run.stalled) << "the flood was accepted whole: no flow control";
  EXPECT_LT(run.stdin_sent, 64 * kMiB) << "sent " << run.stdin_sent / kMiB << " MiB";
  const long growth = GrowthKb();
  std::printf(
      "stdin flood into sleep: %llu KiB accepted before the client was held back, "
      "plugin peak RSS +%ld KiB (bound %ld KiB)\n",
      static_cast<unsigned long long>(run.stdin_sent / 1024), growth, kRssGrowthBoundKb);
  EXPECT_LT(growth, kRssGrowthBoundKb)
      << "peak RSS grew by " << growth << " KiB while " << run.stdin_sent / kMiB
      << " MiB of stdin were pushed into sleep";
  ExpectPluginHealthy();
}

// Through a terminal the kernel's line discipline discards what a program that does not
// read is typed beyond its line buffer, so this flood does not stall (it crawls: the pty
// takes a few MiB/s); the plugin must not hold it either.
TEST_F(StreamExecFloodTest, ExecStdinFloodThroughATtyKeepsRssFlat) {
  ExecPlan plan = Plan({"/bin/sleep", "1000"});
  plan.tty = true;
  plan.stdin_bytes = 32 * kMiB;
  const ExecRun run = test_host::RunExecStream(plugin_->driver(), plan);
  const long growth = GrowthKb();
  EXPECT_LT(growth, kRssGrowthBoundKb)
      << "peak RSS grew by " << growth << " KiB while " << run.stdin_sent / kMiB
      << " MiB were typed into sleep's terminal";
  ExpectPluginHealthy();
}

TEST_F(StreamExecFloodTest, ExecOutputToAClientThatStopsReadingStaysBounded) {
  ExecPlan plan = Plan({"/usr/bin/yes", "carp_exec output flood"});
  plan.read_output = false;
  plan.stall_limit = absl::Seconds(3);  // `yes` writes hundreds of MiB/s meanwhile
  const ExecRun run = test_host::RunExecStream(plugin_->driver(), plan);
  EXPECT_TRUE(run.stalled);
  EXPECT_LT(GrowthKb(), kRssGrowthBoundKb);
  ExpectPluginHealthy();
}

// Flow control pauses and resumes reads many times here (the cap is far below the upload):
// every byte must still arrive, in order, and the command must see EOF.
TEST_F(StreamExecFloodTest, FlowControlLosesNoStdinForACommandThatReads) {
  ExecPlan plan = Plan({"/usr/bin/wc", "-c"});
  plan.stdin_bytes = 64 * kMiB + 12345;
  const ExecRun run = test_host::RunExecStream(plugin_->driver(), plan);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_FALSE(run.stalled);
  EXPECT_EQ(run.stdin_sent, plan.stdin_bytes);
  ASSERT_TRUE(run.exited);
  EXPECT_EQ(run.exit_code, 0);
  uint64_t counted = 0;
  EXPECT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(run.stdout_tail), &counted))
      << run.stdout_tail;
  EXPECT_EQ(counted, plan.stdin_bytes);
}

// Messages far larger than the cap (each one blocks the reads until the child took most of
// it) arrive whole and in order too.
TEST_F(StreamExecFloodTest, FlowControlLosesNoStdinSentInMessagesLargerThanTheCap) {
  ExecPlan plan = Plan({"/usr/bin/wc", "-c"});
  plan.chunk_bytes = 3 * kMiB + 17;
  plan.stdin_bytes = 10 * plan.chunk_bytes + 5;
  const ExecRun run = test_host::RunExecStream(plugin_->driver(), plan);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  ASSERT_TRUE(run.exited);
  uint64_t counted = 0;
  EXPECT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(run.stdout_tail), &counted))
      << run.stdout_tail;
  EXPECT_EQ(counted, plan.stdin_bytes);
}

// A session whose command exits while the client is blocked on the stdin cap ends normally
// (the blocked read is released, the exit result is delivered).
TEST_F(StreamExecFloodTest, ACommandExitingDuringAStdinFloodStillReportsItsExit) {
  ExecPlan plan = Plan({"/bin/sh", "-c", "sleep 1; exit 7"});
  plan.stdin_bytes = kFloodBytes;
  plan.stall_limit = absl::Seconds(10);
  const ExecRun run = test_host::RunExecStream(plugin_->driver(), plan);
  EXPECT_FALSE(run.stalled);
  ASSERT_TRUE(run.exited) << run.status.error_message();
  EXPECT_EQ(run.exit_code, 7);
  EXPECT_LT(GrowthKb(), kRssGrowthBoundKb);
}

}  // namespace
}  // namespace carp_exec::conformance
