#include "tests/conformance/lifecycle_support.h"

#include "absl/strings/str_join.h"
#include "google/rpc/status.pb.h"
#include "nomad/recoverable_error.pb.h"

namespace carp_exec::conformance {

using test_host::SetDeadline;

bool LifecycleTest::subreaper_ = false;

CtyValue ShellConfig(const std::string& script) {
  return CtyValue::Map(
      {{"command", CtyValue::String("/bin/sh")}, {"args", CtyValue::StringList({"-c", script})}});
}

std::optional<bool> RecoverableFlag(const grpc::Status& status) {
  if (status.error_details().empty()) return std::nullopt;
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details()) || details.details_size() == 0) {
    return std::nullopt;
  }
  const google::protobuf::Any& first = details.details(0);
  hashicorp::nomad::plugins::shared::structs::RecoverableError recoverable;
  if (first.type_url() !=
          "type.googleapis.com/hashicorp.nomad.plugins.shared.structs.RecoverableError" ||
      !recoverable.ParseFromString(first.value())) {
    return std::nullopt;
  }
  return recoverable.recoverable();
}

absl::Time ToTime(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

google::protobuf::Duration ToProtoDuration(absl::Duration duration) {
  google::protobuf::Duration out;
  const int64_t nanos = absl::ToInt64Nanoseconds(duration);
  out.set_seconds(nanos / 1000000000);
  out.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return out;
}

void LifecycleTest::SetUpTestSuite() { subreaper_ = test_host::BecomeSubreaper(); }

void LifecycleTest::SetUp() {
  ASSERT_FALSE(state_.path().empty());
  absl::StatusOr<std::unique_ptr<PluginProcess>> plugin = LaunchConfiguredPlugin();
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  plugin_ = std::move(*plugin);
  absl::StatusOr<std::unique_ptr<test_host::TaskFixture>> task = test_host::TaskFixture::Create();
  ASSERT_TRUE(task.ok()) << task.status();
  task_ = std::move(*task);
}

void LifecycleTest::TearDown() {
  if (plugin_ != nullptr && plugin_->running()) {
    // The client always ends with DestroyTask(force); a test that failed midway relies on it.
    for (const std::string& id : started_ids_) (void)Destroy(id, true);
    plugin_->Shutdown();
  }
  if (plugin_ != nullptr) {
    // Every line any code path logged (plugin, and supervisors sharing its stderr) must be
    // one the agent can parse.
    plugin_->output().WaitForEof(absl::Now() + absl::Seconds(2));
    const std::vector<std::string> invalid = InvalidHclogLines(*plugin_);
    EXPECT_TRUE(invalid.empty()) << absl::StrJoin(invalid, "\n");
  }
  std::vector<pid_t> keep;
  if (task_ != nullptr) {
    const std::vector<pid_t> left = TaskProcesses();
    (void)test_host::KillProcesses(left, absl::Seconds(10));
  }
  if (subreaper_) test_host::KillAndReapChildren(keep, absl::Seconds(10));
  plugin_.reset();
  task_.reset();
}

absl::StatusOr<std::unique_ptr<PluginProcess>> LifecycleTest::LaunchConfiguredPlugin(
    std::vector<CtyValue::Entry> options) {
  absl::StatusOr<std::unique_ptr<PluginProcess>> plugin = PluginProcess::Start();
  if (!plugin.ok()) return plugin.status();
  absl::Status configured = ConfigureLikeDriverManager(**plugin, state_.path(), std::move(options));
  if (!configured.ok()) return configured;
  return plugin;
}

void LifecycleTest::CrashAndRelaunchPlugin() {
  plugin_->Kill();
  absl::StatusOr<std::unique_ptr<PluginProcess>> plugin = LaunchConfiguredPlugin();
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  plugin_ = std::move(*plugin);
}

void LifecycleTest::RelaunchPluginWith(std::vector<CtyValue::Entry> options) {
  plugin_->Shutdown();
  absl::StatusOr<std::unique_ptr<PluginProcess>> plugin =
      LaunchConfiguredPlugin(std::move(options));
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  plugin_ = std::move(*plugin);
}

drivers::TaskConfig LifecycleTest::MakeTask(const CtyValue& user_config) {
  absl::StatusOr<std::string> bytes = EncodeTaskConfig(*plugin_, user_config);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return task_->MakeTaskConfig(bytes.ok() ? *bytes : std::string());
}

grpc::Status LifecycleTest::Start(const drivers::TaskConfig& task,
                                  drivers::StartTaskResponse* response) {
  started_ids_.push_back(task.id());
  drivers::StartTaskRequest request;
  *request.mutable_task() = task;
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(60));
  return plugin_->driver().StartTask(&context, request, response);
}

drivers::TaskConfig LifecycleTest::StartScript(const std::string& script,
                                               drivers::StartTaskResponse* response) {
  drivers::TaskConfig task = MakeTask(ShellConfig(script));
  drivers::StartTaskResponse local;
  const grpc::Status status = Start(task, response != nullptr ? response : &local);
  EXPECT_TRUE(status.ok()) << "StartTask: " << status.error_code() << " " << status.error_message();
  return task;
}

grpc::Status LifecycleTest::Wait(const std::string& id, drivers::WaitTaskResponse* response,
                                 absl::Duration timeout) {
  drivers::WaitTaskRequest request;
  request.set_task_id(id);
  grpc::ClientContext context;
  SetDeadline(&context, timeout);
  return plugin_->driver().WaitTask(&context, request, response);
}

grpc::Status LifecycleTest::Stop(const std::string& id, absl::Duration timeout,
                                 const std::string& signal) {
  drivers::StopTaskRequest request;
  request.set_task_id(id);
  *request.mutable_timeout() = ToProtoDuration(timeout);
  request.set_signal(signal);
  grpc::ClientContext context;
  SetDeadline(&context, timeout + absl::Seconds(30));
  drivers::StopTaskResponse response;
  return plugin_->driver().StopTask(&context, request, &response);
}

grpc::Status LifecycleTest::Destroy(const std::string& id, bool force) {
  drivers::DestroyTaskRequest request;
  request.set_task_id(id);
  request.set_force(force);
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(30));
  drivers::DestroyTaskResponse response;
  return plugin_->driver().DestroyTask(&context, request, &response);
}

grpc::Status LifecycleTest::Inspect(const std::string& id, drivers::InspectTaskResponse* response) {
  drivers::InspectTaskRequest request;
  request.set_task_id(id);
  grpc::ClientContext context;
  SetDeadline(&context, kRpcTimeout);
  return plugin_->driver().InspectTask(&context, request, response);
}

grpc::Status LifecycleTest::SignalTask(const std::string& id, const std::string& signal) {
  drivers::SignalTaskRequest request;
  request.set_task_id(id);
  request.set_signal(signal);
  grpc::ClientContext context;
  SetDeadline(&context, kRpcTimeout);
  drivers::SignalTaskResponse response;
  return plugin_->driver().SignalTask(&context, request, &response);
}

grpc::Status LifecycleTest::Recover(const drivers::TaskHandle& handle, const std::string& task_id) {
  drivers::RecoverTaskRequest request;
  request.set_task_id(task_id);  // the Go client leaves it empty
  *request.mutable_handle() = handle;
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(30));
  drivers::RecoverTaskResponse response;
  return plugin_->driver().RecoverTask(&context, request, &response);
}

std::vector<pid_t> LifecycleTest::TaskProcesses() const {
  return test_host::ProcessesWithEnv("NOMAD_ALLOC_ID", task_->alloc_id());
}

bool LifecycleTest::WaitForNoTaskProcesses(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (!TaskProcesses().empty()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

bool LifecycleTest::WaitForStdout(const std::string& needle, absl::Duration timeout) const {
  return task_->stdout_log() != nullptr &&
         task_->stdout_log()->WaitFor(needle, absl::Now() + timeout);
}

}  // namespace carp_exec::conformance
