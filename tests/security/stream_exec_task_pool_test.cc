// ExecTask (script checks) used to start a detached thread per call: a node with many checks,
// or a client repeating slow ones, grew the plugin by a thread per call in flight. It now runs
// on a bounded pool (DriverService::kExecThreads): many concurrent calls all complete, and the
// plugin's thread count stays bounded while they wait.

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/conformance/lifecycle_support.h"
#include "tests/host/process_scan.h"

namespace carp_exec::conformance {
namespace {

constexpr int kCalls = 16;
// DriverService::kExecThreads (4) plus a few for gRPC's own callback threads.
constexpr int kThreadGrowthBound = 8;

class StreamExecTaskPoolTest : public LifecycleTest {};

TEST_F(StreamExecTaskPoolTest, ConcurrentScriptChecksRunOnABoundedPool) {
  const std::string task_id = StartScript("exec sleep 1000").id();
  const int baseline = test_host::CountThreads(plugin_->pid());
  if (baseline < 0) GTEST_SKIP() << "needs /proc (Linux)";
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < kCalls; ++i) {
    callers.emplace_back([&] {
      drivers::ExecTaskRequest request;
      request.set_task_id(task_id);
      request.add_command("/bin/sleep");
      request.add_command("1");
      *request.mutable_timeout() = ToProtoDuration(absl::Seconds(30));
      grpc::ClientContext context;
      test_host::SetDeadline(&context, absl::Seconds(120));
      drivers::ExecTaskResponse response;
      const grpc::Status status = plugin_->driver().ExecTask(&context, request, &response);
      if (status.ok() && response.result().exit_code() == 0) ++ok;
      ++done;
    });
  }
  int peak = baseline;
  while (done < kCalls) {
    peak = std::max(peak, test_host::CountThreads(plugin_->pid()));
    absl::SleepFor(absl::Milliseconds(20));
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(ok, kCalls);
  EXPECT_LE(peak - baseline, kThreadGrowthBound)
      << "plugin threads went from " << baseline << " to " << peak << " for " << kCalls
      << " concurrent ExecTask calls";
}

}  // namespace
}  // namespace carp_exec::conformance
