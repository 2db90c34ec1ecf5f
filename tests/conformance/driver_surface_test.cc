// The Driver service outside the task lifecycle: what the driver manager and the job
// validation call on every plugin (protocol reference §5, §6.2; checklist §8.3).

#include <regex>
#include <string>

#include "gtest/gtest.h"
#include "tests/conformance/conformance_support.h"

namespace carp_exec::conformance {
namespace {

using test_host::SetDeadline;

class DriverSurfaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<PluginProcess>> started = PluginProcess::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    plugin_ = std::move(*started);
    const absl::Status configured = ConfigureLikeDriverManager(*plugin_, state_.path());
    ASSERT_TRUE(configured.ok()) << configured;
  }
  void TearDown() override {
    if (plugin_) plugin_->Shutdown();
  }

  TempDir state_;
  std::unique_ptr<PluginProcess> plugin_;
};

// The Attr behind an object key, looking through a Default wrapper.
const hclspec::Attr* FindAttr(const hclspec::Spec& schema, const std::string& key) {
  if (schema.block_case() != hclspec::Spec::kObject) return nullptr;
  auto it = schema.object().attributes().find(key);
  if (it == schema.object().attributes().end()) return nullptr;
  const hclspec::Spec* spec = &it->second;
  if (spec->block_case() == hclspec::Spec::kDefault) spec = &spec->default_().primary();
  return spec->block_case() == hclspec::Spec::kAttr ? &spec->attr() : nullptr;
}

TEST_F(DriverSurfaceTest, InitSucceedsAgain) {
  grpc::ClientContext context;
  SetDeadline(&context, kRpcTimeout);
  drivers::InitResponse response;
  const grpc::Status status = plugin_->driver().Init(&context, drivers::InitRequest(), &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(DriverSurfaceTest, TaskConfigSchemaDeclaresCommandArgsAndWorkDir) {
  absl::StatusOr<hclspec::Spec> schema = FetchTaskConfigSchema(*plugin_);
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_TRUE(test_host::CheckSpecConverts(*schema).ok()) << test_host::CheckSpecConverts(*schema);
  const hclspec::Attr* command = FindAttr(*schema, "command");
  ASSERT_NE(command, nullptr) << test_host::DescribeSchema(*schema);
  EXPECT_EQ(command->type(), "string");
  EXPECT_TRUE(command->required());
  const hclspec::Attr* args = FindAttr(*schema, "args");
  ASSERT_NE(args, nullptr) << test_host::DescribeSchema(*schema);
  EXPECT_EQ(args->type(), "list(string)");
  const hclspec::Attr* work_dir = FindAttr(*schema, "work_dir");
  ASSERT_NE(work_dir, nullptr) << test_host::DescribeSchema(*schema);
  EXPECT_EQ(work_dir->type(), "string");
  EXPECT_FALSE(work_dir->required());
}

TEST_F(DriverSurfaceTest, CapabilitiesAreThoseOfAHostExecDriver) {
  grpc::ClientContext context;
  SetDeadline(&context, kRpcTimeout);
  drivers::CapabilitiesResponse response;
  ASSERT_TRUE(
      plugin_->driver().Capabilities(&context, drivers::CapabilitiesRequest(), &response).ok());
  const drivers::DriverCapabilities& caps = response.capabilities();
  EXPECT_TRUE(caps.send_signals());
  EXPECT_TRUE(caps.exec());
  EXPECT_EQ(caps.fs_isolation(), drivers::DriverCapabilities::NONE);
  bool host_mode = false;
  for (int mode : caps.network_isolation_modes())
    host_mode |= mode == drivers::NetworkIsolationSpec::HOST;
  EXPECT_TRUE(host_mode) << "host networking must be offered";
  EXPECT_FALSE(caps.must_create_network()) << "CreateNetwork would be called for every alloc";
}

TEST_F(DriverSurfaceTest, FingerprintAnswersAtOnceHealthyAndStaysOpen) {
  const absl::Time opened = absl::Now();
  StreamReader<drivers::FingerprintResponse> stream([this](grpc::ClientContext* context) {
    return plugin_->driver().Fingerprint(context, drivers::FingerprintRequest());
  });
  std::optional<drivers::FingerprintResponse> first =
      stream.WaitForMessage(0, opened + absl::Seconds(10));
  ASSERT_TRUE(first.has_value()) << "no fingerprint; stream ended with "
                                 << (stream.WaitForEnd(absl::Now()).has_value()
                                         ? stream.WaitForEnd(absl::Now())->error_message()
                                         : std::string("(still open)"));
  // The agent waits for the first fingerprint of every driver before it registers the node.
  EXPECT_LT(stream.ArrivalTime(0) - opened, absl::Seconds(1));
  EXPECT_EQ(first->health(), drivers::FingerprintResponse::HEALTHY) << first->health_description();
  EXPECT_TRUE(first->err().empty()) << first->err();
  EXPECT_FALSE(first->health_description().empty());
  auto detected = first->attributes().find("driver.carp_exec");
  ASSERT_NE(detected, first->attributes().end());
  EXPECT_TRUE(detected->second.has_bool_val() && detected->second.bool_val());
  auto version = first->attributes().find("driver.carp_exec.version");
  ASSERT_NE(version, first->attributes().end());
  ASSERT_TRUE(version->second.has_string_val());
  EXPECT_TRUE(std::regex_match(version->second.string_val(), std::regex(R"(v?\d+\.\d+\.\d+.*)")))
      << version->second.string_val();
  // The driver manager reopens an ended stream at once, in a tight loop: it must stay open.
  EXPECT_FALSE(stream.WaitForEnd(absl::Now() + absl::Seconds(2)).has_value())
      << "Fingerprint stream ended: " << stream.WaitForEnd(absl::Now())->error_message();
}

TEST_F(DriverSurfaceTest, TaskEventsStreamStaysOpen) {
  StreamReader<drivers::DriverTaskEvent> stream([this](grpc::ClientContext* context) {
    return plugin_->driver().TaskEvents(context, drivers::TaskEventsRequest());
  });
  const std::optional<grpc::Status> ended = stream.WaitForEnd(absl::Now() + absl::Seconds(2));
  EXPECT_FALSE(ended.has_value()) << "TaskEvents ended: " << ended->error_code() << " "
                                  << ended->error_message();
}

TEST_F(DriverSurfaceTest, DriverShutdownSucceeds) {
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(2));  // the agent's deadline for it
  drivers::ShutdownResponse response;
  const grpc::Status status =
      plugin_->driver().Shutdown(&context, drivers::ShutdownRequest(), &response);
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
}

// Agent shutdown with the driver manager's streams still open: Driver.Shutdown, then the
// controller; the process must still be gone within the 2 s grace, not SIGKILLed.
TEST_F(DriverSurfaceTest, ShutdownWithOpenStreamsStillExitsInTime) {
  auto fingerprint = std::make_unique<StreamReader<drivers::FingerprintResponse>>(
      [this](grpc::ClientContext* context) {
        return plugin_->driver().Fingerprint(context, drivers::FingerprintRequest());
      });
  auto events = std::make_unique<StreamReader<drivers::DriverTaskEvent>>(
      [this](grpc::ClientContext* context) {
        return plugin_->driver().TaskEvents(context, drivers::TaskEventsRequest());
      });
  ASSERT_TRUE(fingerprint->WaitForMessage(0, absl::Now() + absl::Seconds(10)).has_value());
  {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(2));
    drivers::ShutdownResponse response;
    (void)plugin_->driver().Shutdown(&context, drivers::ShutdownRequest(), &response);
  }
  const test_host::ShutdownReport report = plugin_->Shutdown();
  EXPECT_TRUE(report.exited_in_grace)
      << "needed SIGKILL with streams open; " << plugin_->DescribeExit();
  EXPECT_TRUE(fingerprint->WaitForEnd(absl::Now() + absl::Seconds(5)).has_value());
  EXPECT_TRUE(events->WaitForEnd(absl::Now() + absl::Seconds(5)).has_value());
}

}  // namespace
}  // namespace carp_exec::conformance
