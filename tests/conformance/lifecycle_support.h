#pragma once
// The task lifecycle as the Nomad client drives it (protocol reference §6.2), for the tests
// labelled "lifecycle": one configured plugin with a private state dir, one prepared task
// (alloc dir, logmon FIFOs), and helpers for each RPC with a deadline. Every task a test
// starts is destroyed (force) in TearDown, and any process still carrying the fixture's
// NOMAD_ALLOC_ID, or orphaned to the test (it is a subreaper), is killed and reaped.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/conformance/conformance_support.h"
#include "tests/host/process_scan.h"
#include "tests/host/task_fixture.h"

namespace carp_exec::conformance {

// {command = "/bin/sh", args = ["-c", script]}
CtyValue ShellConfig(const std::string& script);

// The RecoverableError flag in a gRPC error's details (first detail only, as Nomad reads
// it); nullopt when there is none.
std::optional<bool> RecoverableFlag(const grpc::Status& status);

// google.protobuf.Timestamp / Duration conversions.
absl::Time ToTime(const google::protobuf::Timestamp& timestamp);
google::protobuf::Duration ToProtoDuration(absl::Duration duration);

class LifecycleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  void SetUp() override;
  void TearDown() override;

  // A plugin launched like the driver manager's kept launch, on this test's state dir, with
  // `options` added to its config block.
  absl::StatusOr<std::unique_ptr<PluginProcess>> LaunchConfiguredPlugin(
      std::vector<CtyValue::Entry> options = {});
  // Shuts the plugin down gracefully and launches one configured with `options`, as an
  // operator's config change plus agent restart does.
  void RelaunchPluginWith(std::vector<CtyValue::Entry> options);
  // SIGKILLs the plugin (a crash) and launches a configured replacement.
  void CrashAndRelaunchPlugin();

  // TaskConfig for `user_config` encoded through the plugin's TaskConfigSchema.
  drivers::TaskConfig MakeTask(const CtyValue& user_config);
  // StartTask with a deadline; the id is remembered for cleanup.
  grpc::Status Start(const drivers::TaskConfig& task, drivers::StartTaskResponse* response);
  // MakeTask(ShellConfig(script)) + Start; fails the test on error. Returns the TaskConfig.
  drivers::TaskConfig StartScript(const std::string& script,
                                  drivers::StartTaskResponse* response = nullptr);

  grpc::Status Wait(const std::string& id, drivers::WaitTaskResponse* response,
                    absl::Duration timeout = absl::Seconds(60));
  grpc::Status Stop(const std::string& id, absl::Duration timeout, const std::string& signal);
  grpc::Status Destroy(const std::string& id, bool force);
  grpc::Status Inspect(const std::string& id, drivers::InspectTaskResponse* response);
  grpc::Status SignalTask(const std::string& id, const std::string& signal);
  grpc::Status Recover(const drivers::TaskHandle& handle, const std::string& task_id = "");

  // Processes carrying this fixture's NOMAD_ALLOC_ID (tasks and their children).
  std::vector<pid_t> TaskProcesses() const;
  // Waits until there are none; true on success.
  bool WaitForNoTaskProcesses(absl::Duration timeout) const;
  // Waits for `needle` in the task's stdout log (through the logmon FIFO).
  bool WaitForStdout(const std::string& needle, absl::Duration timeout = absl::Seconds(20)) const;

  TempDir state_;
  std::unique_ptr<PluginProcess> plugin_;
  std::unique_ptr<test_host::TaskFixture> task_;
  std::vector<std::string> started_ids_;
  static bool subreaper_;
};

}  // namespace carp_exec::conformance
