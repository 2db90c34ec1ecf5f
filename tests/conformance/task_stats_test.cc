// TaskStats: a stream of samples at the requested interval for the task's whole process tree
// (protocol reference §6.2 TaskStats; issue 3 item 3).

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/conformance/lifecycle_support.h"

namespace carp_exec::conformance {
namespace {

bool Measures(const drivers::MemoryUsage& memory, drivers::MemoryUsage::Fields field) {
  for (int f : memory.measured_fields()) {
    if (f == field) return true;
  }
  return false;
}

bool Measures(const drivers::CPUUsage& cpu, drivers::CPUUsage::Fields field) {
  for (int f : cpu.measured_fields()) {
    if (f == field) return true;
  }
  return false;
}

class TaskStatsTest : public LifecycleTest {
 protected:
  std::unique_ptr<StreamReader<drivers::TaskStatsResponse>> OpenStats(const std::string& id,
                                                                      absl::Duration interval) {
    drivers::TaskStatsRequest request;
    request.set_task_id(id);
    *request.mutable_collection_interval() = ToProtoDuration(interval);
    return std::make_unique<StreamReader<drivers::TaskStatsResponse>>(
        [this, request](grpc::ClientContext* context) {
          return plugin_->driver().TaskStats(context, request);
        });
  }
};

TEST_F(TaskStatsTest, SamplesAtOnceThenAtTheIntervalForTheProcessTree) {
  const drivers::TaskConfig task = StartScript("sleep 1000 & echo ready; while :; do :; done");
  ASSERT_TRUE(WaitForStdout("ready\n"));
  auto stats = OpenStats(task.id(), absl::Milliseconds(200));
  // Nomad drops samples without a timestamp; the first comes at once, then one per interval.
  for (size_t i = 0; i < 3; ++i) {
    std::optional<drivers::TaskStatsResponse> sample =
        stats->WaitForMessage(i, absl::Now() + absl::Seconds(20));
    ASSERT_TRUE(sample.has_value())
        << "sample " << i
        << " missing; stream ended: " << stats->WaitForEnd(absl::Now()).has_value();
    const drivers::TaskStats& s = sample->stats();
    EXPECT_EQ(s.id(), task.id());
    EXPECT_TRUE(s.has_timestamp()) << "sample " << i;
    EXPECT_TRUE(Measures(s.agg_resource_usage().memory(), drivers::MemoryUsage::RSS));
    EXPECT_GT(s.agg_resource_usage().memory().rss(), 0u);
    EXPECT_TRUE(Measures(s.agg_resource_usage().cpu(), drivers::CPUUsage::PERCENT));
    // Shell, busy loop's shell and the background sleep: several pids, keyed by pid text.
    EXPECT_GE(s.resource_usage_by_pid_size(), 2) << "sample " << i;
    for (const auto& [pid, usage] : s.resource_usage_by_pid()) {
      int value = 0;
      EXPECT_TRUE(absl::SimpleAtoi(pid, &value) && value > 0) << pid;
    }
  }
  // CPU percent needs two measurements; a busy loop must show within a few seconds.
  std::optional<drivers::TaskStatsResponse> busy = stats->WaitFor(
      [](const drivers::TaskStatsResponse& r) {
        return r.stats().agg_resource_usage().cpu().percent() > 0.0;
      },
      absl::Now() + absl::Seconds(5));
  std::string seen;
  for (const drivers::TaskStatsResponse& r : stats->Messages()) {
    absl::StrAppend(&seen, r.stats().timestamp().seconds(), ".", r.stats().timestamp().nanos(),
                    "s:", r.stats().agg_resource_usage().cpu().percent(), "% ");
  }
  EXPECT_TRUE(busy.has_value()) << "a busy loop never showed CPU use; samples: " << seen;
  EXPECT_FALSE(stats->WaitForEnd(absl::Now()).has_value()) << "stats stream ended early";
}

// Nomad shows a task's CPU use in MHz from total_ticks; raw_exec derives it from the percent and
// the node topology sent in SetConfig's nomad_config: percent/100 × total MHz / cores. Our
// NomadClientConfig() sends 2 cores at 2400 MHz, so ticks = percent × 24.
TEST_F(TaskStatsTest, TotalTicksFollowThePercentAndTheNodeTopology) {
  const drivers::TaskConfig task = StartScript("echo ready; while :; do :; done");
  ASSERT_TRUE(WaitForStdout("ready\n"));
  auto stats = OpenStats(task.id(), absl::Seconds(1));
  std::optional<drivers::TaskStatsResponse> busy = stats->WaitFor(
      [](const drivers::TaskStatsResponse& r) {
        return r.stats().agg_resource_usage().cpu().percent() > 1.0;
      },
      absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(busy.has_value()) << "a busy loop never showed CPU use";
  const drivers::CPUUsage& cpu = busy->stats().agg_resource_usage().cpu();
  const double expected = cpu.percent() / 100.0 * (2 * 2400) / 2;
  EXPECT_NEAR(cpu.total_ticks(), expected, expected * 0.01 + 0.01)
      << "percent " << cpu.percent() << " with 2 cores x 2400 MHz";
}

// Nomad's client logs any end of the stream other than io.EOF (gRPC OK) as an error
// (plugins/drivers/client.go, TaskStats): a task that exits must end its stream with OK.
TEST_F(TaskStatsTest, StreamEndsWithOkWhenTheTaskExits) {
  const drivers::TaskConfig task = StartScript("echo ready; exec sleep 1000");
  ASSERT_TRUE(WaitForStdout("ready\n"));
  auto stats = OpenStats(task.id(), absl::Milliseconds(200));
  ASSERT_TRUE(stats->WaitForMessage(0, absl::Now() + absl::Seconds(20)).has_value());
  ASSERT_TRUE(SignalTask(task.id(), "SIGKILL").ok());
  drivers::WaitTaskResponse waited;
  ASSERT_TRUE(Wait(task.id(), &waited).ok());
  const std::optional<grpc::Status> ended = stats->WaitForEnd(absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(ended.has_value()) << "stats stream stayed open after the task exited";
  EXPECT_TRUE(ended->ok()) << ended->error_code() << " " << ended->error_message();
}

TEST_F(TaskStatsTest, UnknownTaskIsAnError) {
  auto stats = OpenStats(task_->NewTaskId(), absl::Seconds(1));
  const std::optional<grpc::Status> ended = stats->WaitForEnd(absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(ended.has_value()) << "stream for an unknown task stayed open";
  EXPECT_FALSE(ended->ok());
  EXPECT_TRUE(stats->Messages().empty());
}

}  // namespace
}  // namespace carp_exec::conformance
