#include "tests/failover/plugin_session.h"

#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "driver/config/cty_value.h"
#include "driver/mutex_lock.h"
#include "google/protobuf/duration.pb.h"
#include "tests/host/nomad_config.h"

namespace carp_exec::failover_test {
namespace {

namespace base_proto = ::hashicorp::nomad::plugins::base::proto;
namespace driver_proto = ::hashicorp::nomad::plugins::drivers::proto;
using config::CtyValue;

constexpr absl::Duration kRpcTimeout = absl::Seconds(30);
// StopTask may wait confirm_timeout and then the kill timeout.
constexpr absl::Duration kStopRpcTimeout = absl::Seconds(60);
constexpr absl::Duration kWaitRpcTimeout = absl::Seconds(300);

bool SchemaHas(const test_host::hclspec::Spec& spec, const std::string& name) {
  return spec.has_object() && spec.object().attributes().contains(name);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PluginSession>> PluginSession::Start(SessionOptions options) {
  std::unique_ptr<PluginSession> session(new PluginSession(std::move(options)));
  test_host::LaunchOptions launch;
  launch.binary = session->options_.ip;
  launch.args = {"netns", "exec", session->options_.netns, session->options_.plugin};
  absl::StatusOr<std::unique_ptr<test_host::PluginProcess>> process =
      test_host::PluginProcess::Start(launch);
  if (!process.ok()) {
    return absl::Status(process.status().code(),
                        absl::StrCat("starting carp_exec in netns ", session->options_.netns, ": ",
                                     process.status().message()));
  }
  session->process_ = std::move(*process);
  session->events_thread_ = std::thread([s = session.get()] { s->ReadEvents(); });
  if (absl::Status configured = session->Configure(); !configured.ok()) return configured;
  return session;
}

absl::Status PluginSession::Configure() {
  base_proto::ConfigSchemaResponse schema;
  {
    grpc::ClientContext context;
    test_host::SetDeadline(&context, kRpcTimeout);
    grpc::Status status =
        process_->base().ConfigSchema(&context, base_proto::ConfigSchemaRequest(), &schema);
    if (!status.ok()) return test_host::ToStatus(status, "ConfigSchema");
  }
  const FailoverBlock& f = options_.failover;
  std::vector<CtyValue::Entry> failover = {
      {"backend", CtyValue::String("keepalived")},
      {"track_file", CtyValue::String(f.track_file)},
      {"state_file", CtyValue::String(f.state_file)},
      {"vip", CtyValue::StringList({f.vip})},
      {"interfaces", CtyValue::StringList({f.interface})},
      {"confirm_timeout", CtyValue::String(f.confirm_timeout)},
      {"poll_interval", CtyValue::String(f.poll_interval)},
      {"demote_by", CtyValue::Int(f.demote_by)},
      {"handover", CtyValue::String(f.handover)},
  };
  std::vector<CtyValue::Entry> user = {{"failover", CtyValue::Map(std::move(failover))}};
  if (SchemaHas(schema.spec(), "state_dir")) {
    user.push_back({"state_dir", CtyValue::String(options_.state_dir)});
  }
  absl::StatusOr<std::string> bytes =
      test_host::EncodeLikeNomad(schema.spec(), CtyValue::Map(std::move(user)));
  if (!bytes.ok()) {
    return absl::Status(
        bytes.status().code(),
        absl::StrCat("encoding the plugin's failover block with its ConfigSchema (",
                     test_host::DescribeSchema(schema.spec()), "): ", bytes.status().message()));
  }
  base_proto::SetConfigRequest request;
  request.set_msgpack_config(*bytes);
  request.set_plugin_api_version("0.1.0");
  request.mutable_nomad_config()->mutable_driver()->set_clientminport(10000);
  request.mutable_nomad_config()->mutable_driver()->set_clientmaxport(14000);
  grpc::ClientContext context;
  test_host::SetDeadline(&context, kRpcTimeout);
  base_proto::SetConfigResponse response;
  grpc::Status status = process_->base().SetConfig(&context, request, &response);
  if (!status.ok()) return test_host::ToStatus(status, "SetConfig with the failover block");
  return absl::OkStatus();
}

void PluginSession::ReadEvents() {
  std::unique_ptr<grpc::ClientReader<driver_proto::DriverTaskEvent>> reader =
      process_->driver().TaskEvents(&events_context_, driver_proto::TaskEventsRequest());
  driver_proto::DriverTaskEvent event;
  while (reader->Read(&event)) {
    const absl::Time stamped = absl::FromUnixSeconds(event.timestamp().seconds()) +
                               absl::Nanoseconds(event.timestamp().nanos());
    TaskEvent e{absl::Now(), stamped, event.task_id(), event.message(), {}};
    for (const auto& [key, value] : event.annotations()) e.annotations[key] = value;
    carp_exec::MutexLock lock(mu_);
    events_.push_back(std::move(e));
  }
  (void)reader->Finish();
}

absl::StatusOr<std::string> PluginSession::StartServer(const ServerTask& task) {
  driver_proto::TaskConfigSchemaResponse schema;
  {
    grpc::ClientContext context;
    test_host::SetDeadline(&context, kRpcTimeout);
    grpc::Status status = process_->driver().TaskConfigSchema(
        &context, driver_proto::TaskConfigSchemaRequest(), &schema);
    if (!status.ok()) return test_host::ToStatus(status, "TaskConfigSchema");
  }
  CtyValue user = CtyValue::Map({
      {"command", CtyValue::String(task.python)},
      {"args", CtyValue::StringList({task.server_script, "--port", absl::StrCat(task.port),
                                     "--name", task.name, "--log", task.event_log})},
      {"failover", CtyValue::Bool(true)},
      {"ready", CtyValue::Map({{"http", CtyValue::String(task.ready_http)},
                               {"interval", CtyValue::String(task.ready_interval)},
                               {"timeout", CtyValue::String(task.ready_timeout)}})},
  });
  absl::StatusOr<std::string> bytes = test_host::EncodeLikeNomad(schema.spec(), user);
  if (!bytes.ok()) {
    return absl::Status(
        bytes.status().code(),
        absl::StrCat("encoding the guarded task config with TaskConfigSchema (",
                     test_host::DescribeSchema(schema.spec()), "): ", bytes.status().message()));
  }
  test_host::TaskFixtureOptions fixture_options;
  fixture_options.task_name = "edge-proxy";
  absl::StatusOr<std::unique_ptr<test_host::TaskFixture>> fixture =
      test_host::TaskFixture::Create(fixture_options);
  if (!fixture.ok()) return fixture.status();
  driver_proto::StartTaskRequest request;
  *request.mutable_task() = (*fixture)->MakeTaskConfig(*bytes);
  const std::string task_id = request.task().id();
  fixtures_.push_back(std::move(*fixture));

  grpc::ClientContext context;
  test_host::SetDeadline(&context, kRpcTimeout);
  driver_proto::StartTaskResponse response;
  grpc::Status status = process_->driver().StartTask(&context, request, &response);
  if (!status.ok()) return test_host::ToStatus(status, "StartTask of the guarded server");
  if (response.result() != driver_proto::StartTaskResponse::SUCCESS) {
    return absl::FailedPreconditionError(
        absl::StrCat("StartTask of the guarded server: ", response.driver_error_msg()));
  }
  {
    carp_exec::MutexLock lock(mu_);
    handles_[task_id] = response.handle();
  }
  StartWaiter(task_id);
  return task_id;
}

std::optional<driver_proto::TaskHandle> PluginSession::Handle(const std::string& task_id) const {
  carp_exec::MutexLock lock(mu_);
  auto it = handles_.find(task_id);
  if (it == handles_.end()) return std::nullopt;
  return it->second;
}

absl::Status PluginSession::RecoverServer(const driver_proto::TaskHandle& handle) {
  // As the Go client: task_id left empty, the id travels in handle.config.id
  // (plugins/drivers/client.go, RecoverTask).
  driver_proto::RecoverTaskRequest request;
  *request.mutable_handle() = handle;
  grpc::ClientContext context;
  test_host::SetDeadline(&context, kRpcTimeout);
  driver_proto::RecoverTaskResponse response;
  if (absl::Status s = test_host::ToStatus(
          process_->driver().RecoverTask(&context, request, &response), "RecoverTask");
      !s.ok()) {
    return s;
  }
  {
    carp_exec::MutexLock lock(mu_);
    handles_[handle.config().id()] = handle;
  }
  StartWaiter(handle.config().id());
  return absl::OkStatus();
}

void PluginSession::StartWaiter(const std::string& task_id) {
  waiters_.emplace_back([this, task_id] {
    grpc::ClientContext wait_context;
    test_host::SetDeadline(&wait_context, kWaitRpcTimeout);
    driver_proto::WaitTaskRequest wait_request;
    wait_request.set_task_id(task_id);
    driver_proto::WaitTaskResponse wait_response;
    grpc::Status wait_status =
        process_->driver().WaitTask(&wait_context, wait_request, &wait_response);
    TaskExit exit{absl::Now(), wait_response.result().exit_code(), wait_response.result().signal(),
                  wait_response.err()};
    if (!wait_status.ok()) exit.error = absl::StrCat("WaitTask: ", wait_status.error_message());
    carp_exec::MutexLock lock(mu_);
    exits_[task_id] = exit;
  });
}

absl::Status PluginSession::StopTask(const std::string& task_id, absl::Duration kill_timeout,
                                     const std::string& signal) {
  driver_proto::StopTaskRequest request;
  request.set_task_id(task_id);
  request.mutable_timeout()->set_seconds(absl::ToInt64Seconds(kill_timeout));
  request.set_signal(signal);
  grpc::ClientContext context;
  test_host::SetDeadline(&context, kStopRpcTimeout);
  driver_proto::StopTaskResponse response;
  return test_host::ToStatus(process_->driver().StopTask(&context, request, &response), "StopTask");
}

absl::Status PluginSession::DestroyTask(const std::string& task_id, bool force) {
  driver_proto::DestroyTaskRequest request;
  request.set_task_id(task_id);
  request.set_force(force);
  grpc::ClientContext context;
  test_host::SetDeadline(&context, kRpcTimeout);
  driver_proto::DestroyTaskResponse response;
  return test_host::ToStatus(process_->driver().DestroyTask(&context, request, &response),
                             "DestroyTask");
}

std::optional<TaskExit> PluginSession::WaitExit(const std::string& task_id,
                                                absl::Duration timeout) {
  carp_exec::MutexLock lock(mu_);
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return exits_.contains(task_id); };
  if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) return std::nullopt;
  return exits_[task_id];
}

std::vector<TaskEvent> PluginSession::Events() const {
  carp_exec::MutexLock lock(mu_);
  return events_;
}

void PluginSession::Shutdown() { (void)EndSession(/*crash=*/false); }

absl::Time PluginSession::Crash() { return EndSession(/*crash=*/true); }

absl::Time PluginSession::EndSession(bool crash) {
  const absl::Time ended = absl::Now();
  if (shut_down_) return ended;
  shut_down_ = true;
  events_context_.TryCancel();
  if (crash) {
    process_->Kill();
  } else {
    process_->Shutdown(absl::Seconds(2));
  }
  if (events_thread_.joinable()) events_thread_.join();
  for (std::thread& waiter : waiters_) waiter.join();  // the plugin is gone: the RPCs ended
  if (!options_.log_path.empty()) {
    std::ofstream out(options_.log_path, std::ios::app);
    out << absl::StrJoin(process_->StderrLines(), "\n") << "\n";
  }
  return ended;
}

PluginSession::~PluginSession() {
  if (process_ != nullptr) {
    Shutdown();
  } else if (events_thread_.joinable()) {
    events_thread_.join();
  }
}

}  // namespace carp_exec::failover_test
