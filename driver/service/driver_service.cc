#include "driver/service/driver_service.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "driver/config/task_config.h"
#include "driver/log/hclog.h"
#include "driver/service/exec_stream.h"
#include "driver/service/proto_convert.h"
#include "driver/service/status_mapping.h"
#include "driver/tasks/exec_task.h"

namespace carp_exec::service {
namespace {

constexpr int kTaskHandleVersion = 1;
// ExecTask answers like raw_exec: stdout and stderr merged, only the last 4 KiB (the end of a
// failing check's output is where its error is; Consul keeps no more than 4 KiB either).
constexpr size_t kExecOutputBytes = size_t{4} * 1024;

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, const grpc::Status& status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// WaitTask completes when the task exits (from the task runner's watcher thread) or when the
// client cancels, whichever comes first; exactly one of them finishes the RPC.
class WaitReactor final : public grpc::ServerUnaryReactor {
 public:
  WaitReactor(Driver* driver, drivers::WaitTaskResponse* response)
      : driver_(driver), response_(response) {}

  void Begin(const std::string& task_id) {
    const tasks::WaitHandle handle =
        driver_->WaitTask(task_id, [this](absl::StatusOr<tasks::ExitResult> result) {
          if (result.ok()) {
            ToProto(*result, response_->mutable_result());
            response_->set_err(result->err);
            Complete(grpc::Status::OK);
          } else {
            Complete(ToGrpc(result.status()));
          }
        });
    handle_.store(handle);
  }

 private:
  void OnCancel() override {
    const tasks::WaitHandle handle = handle_.load();
    // If the waiter already fired, its own Complete() finishes the call.
    if (handle != 0 && !driver_->CancelWait(handle)) return;
    Complete(grpc::Status::CANCELLED);
  }
  void OnDone() override { delete this; }
  void Complete(const grpc::Status& status) {
    if (finished_.exchange(true)) return;
    Finish(status);
  }

  Driver* driver_;
  drivers::WaitTaskResponse* response_;
  std::atomic<tasks::WaitHandle> handle_{0};
  std::atomic<bool> finished_{false};
};

// StopTask may take a while (failover hand-over, then the kill timeout): it is finished later
// from the worker that completes the stop.
class StopReactor final : public grpc::ServerUnaryReactor {
 public:
  void Complete(const grpc::Status& status) { Finish(status); }

 private:
  void OnDone() override { delete this; }
};

}  // namespace

DriverService::DriverService(Driver* driver)
    : driver_(driver),
      streams_(std::make_unique<TaskStreams>(driver)),
      blocking_(std::make_unique<BlockingCalls>(kBlockingThreads)),
      exec_calls_(std::make_unique<BlockingCalls>(kExecThreads)) {
  driver_->SetEventSink(streams_.get());
  driver_->SetStopPoster(
      [pool = blocking_.get()](std::function<void()> work) { pool->Run(std::move(work)); });
}

DriverService::~DriverService() {
  // From here the driver signals on its failover worker; stops already queued in the pool
  // still run (the pool drains its queue when it is destroyed).
  driver_->SetStopPoster(nullptr);
  CloseStreams();
}

void DriverService::CloseStreams() { streams_->CloseAll(); }

grpc::ServerUnaryReactor* DriverService::Init(grpc::CallbackServerContext* ctx,
                                              const drivers::InitRequest*, drivers::InitResponse*) {
  return Done(ctx, ToGrpc(driver_->Init()));
}

grpc::ServerUnaryReactor* DriverService::TaskConfigSchema(
    grpc::CallbackServerContext* ctx, const drivers::TaskConfigSchemaRequest*,
    drivers::TaskConfigSchemaResponse* response) {
  *response->mutable_spec() = config::TaskConfigSchema();
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* DriverService::Capabilities(grpc::CallbackServerContext* ctx,
                                                      const drivers::CapabilitiesRequest*,
                                                      drivers::CapabilitiesResponse* response) {
  auto* caps = response->mutable_capabilities();
  caps->set_send_signals(true);
  caps->set_exec(true);
  caps->set_fs_isolation(drivers::DriverCapabilities::NONE);
  // Host networking like raw_exec; GROUP lets bridge-mode groups schedule (the task then
  // simply runs in the host's namespace, as with raw_exec).
  caps->add_network_isolation_modes(drivers::NetworkIsolationSpec::HOST);
  caps->add_network_isolation_modes(drivers::NetworkIsolationSpec::GROUP);
  caps->set_mount_configs(drivers::DriverCapabilities::NO_MOUNTS);
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerWriteReactor<drivers::FingerprintResponse>* DriverService::Fingerprint(
    grpc::CallbackServerContext*, const drivers::FingerprintRequest*) {
  return streams_->OpenFingerprint();
}

grpc::ServerUnaryReactor* DriverService::RecoverTask(grpc::CallbackServerContext* ctx,
                                                     const drivers::RecoverTaskRequest* request,
                                                     drivers::RecoverTaskResponse*) {
  // The Go client leaves task_id empty; the handle's config carries it.
  std::string task_id = request->task_id();
  if (task_id.empty()) task_id = request->handle().config().id();
  if (task_id.empty()) {
    return Done(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "RecoverTask: the handle has no task id (handle.config.id is "
                                  "empty); Nomad will restart the task"));
  }
  auto* reactor = ctx->DefaultReactor();
  blocking_->Run([this, reactor, request, task_id] {
    const absl::Status status = driver_->RecoverTask(task_id, request->handle().driver_state());
    if (!status.ok()) {
      log::Warn("carp_exec", "task could not be recovered",
                {{"task_id", task_id}, {"error", status.message()}});
    }
    reactor->Finish(ToGrpc(status));
  });
  return reactor;
}

grpc::ServerUnaryReactor* DriverService::StartTask(grpc::CallbackServerContext* ctx,
                                                   const drivers::StartTaskRequest* request,
                                                   drivers::StartTaskResponse* response) {
  const drivers::TaskConfig& task = request->task();
  StartRequest start;
  tasks::LaunchSpec& launch = start.launch;
  launch.task_id = task.id();
  launch.alloc_id = task.alloc_id();
  launch.task_name = task.name();
  launch.env.insert(task.env().begin(), task.env().end());
  launch.user = task.user();
  launch.stdout_path = task.stdout_path();
  launch.stderr_path = task.stderr_path();
  launch.alloc_dir = task.alloc_dir();
  // Nomad's task directory is <alloc_dir>/<task name>.
  if (!task.alloc_dir().empty()) launch.task_dir = absl::StrCat(task.alloc_dir(), "/", task.name());
  // Bridge-mode groups: Nomad made a namespace for the alloc; join it like raw_exec (HOST mode
  // or no path ⇒ the host's network). network_isolation_spec is set by Nomad, not the job.
  if (task.has_network_isolation_spec() &&
      task.network_isolation_spec().mode() == drivers::NetworkIsolationSpec::GROUP) {
    launch.netns_path = task.network_isolation_spec().path();
  }
  start.msgpack_config = task.msgpack_driver_config();

  auto* reactor = ctx->DefaultReactor();
  blocking_->Run([this, reactor, request, response, start = std::move(start)]() mutable {
    const drivers::TaskConfig& task = request->task();
    absl::StatusOr<tasks::StartedTask> started = driver_->StartTask(std::move(start));
    if (!started.ok()) {
      log::Error("carp_exec", "task failed to start",
                 {{"task_id", task.id()}, {"error", started.status().message()}});
      reactor->Finish(ToGrpcStartError(started.status()));
      return;
    }
    // Nomad persists this handle and gives it back in RecoverTask; a handle without `config`
    // is skipped at restore and the task would be started twice.
    auto* handle = response->mutable_handle();
    handle->set_version(kTaskHandleVersion);
    *handle->mutable_config() = task;
    handle->set_state(drivers::RUNNING);
    handle->set_driver_state(started->driver_state);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* DriverService::WaitTask(grpc::CallbackServerContext*,
                                                  const drivers::WaitTaskRequest* request,
                                                  drivers::WaitTaskResponse* response) {
  auto* reactor = new WaitReactor(driver_, response);
  reactor->Begin(request->task_id());
  return reactor;
}

grpc::ServerUnaryReactor* DriverService::StopTask(grpc::CallbackServerContext*,
                                                  const drivers::StopTaskRequest* request,
                                                  drivers::StopTaskResponse*) {
  auto* reactor = new StopReactor();
  blocking_->Run([this, reactor, request] {
    driver_->StopTask(request->task_id(), FromProto(request->timeout()), request->signal(),
                      [reactor](const absl::Status& status) { reactor->Complete(ToGrpc(status)); });
  });
  return reactor;
}

grpc::ServerUnaryReactor* DriverService::DestroyTask(grpc::CallbackServerContext* ctx,
                                                     const drivers::DestroyTaskRequest* request,
                                                     drivers::DestroyTaskResponse*) {
  auto* reactor = ctx->DefaultReactor();
  blocking_->Run([this, reactor, request] {
    reactor->Finish(ToGrpc(driver_->DestroyTask(request->task_id(), request->force())));
  });
  return reactor;
}

grpc::ServerUnaryReactor* DriverService::InspectTask(grpc::CallbackServerContext* ctx,
                                                     const drivers::InspectTaskRequest* request,
                                                     drivers::InspectTaskResponse* response) {
  absl::StatusOr<tasks::TaskStatus> status = driver_->InspectTask(request->task_id());
  if (!status.ok()) return Done(ctx, ToGrpc(status.status()));
  ToProto(*status, response->mutable_task());
  (*response->mutable_driver()->mutable_attributes())["pid"] = absl::StrCat(status->pid);
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerWriteReactor<drivers::TaskStatsResponse>* DriverService::TaskStats(
    grpc::CallbackServerContext*, const drivers::TaskStatsRequest* request) {
  absl::Duration interval = FromProto(request->collection_interval());
  if (interval <= absl::ZeroDuration()) interval = absl::Seconds(1);
  return streams_->OpenStats(request->task_id(), interval);
}

grpc::ServerWriteReactor<drivers::DriverTaskEvent>* DriverService::TaskEvents(
    grpc::CallbackServerContext*, const drivers::TaskEventsRequest*) {
  return streams_->OpenEvents();
}

grpc::ServerUnaryReactor* DriverService::Shutdown(grpc::CallbackServerContext* ctx,
                                                  const drivers::ShutdownRequest*,
                                                  drivers::ShutdownResponse*) {
  // Agent shutdown: tasks keep running; only our own threads and streams stop.
  streams_->CloseAll();
  driver_->Shutdown();
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* DriverService::SignalTask(grpc::CallbackServerContext* ctx,
                                                    const drivers::SignalTaskRequest* request,
                                                    drivers::SignalTaskResponse*) {
  auto* reactor = ctx->DefaultReactor();
  blocking_->Run([this, reactor, request] {
    reactor->Finish(ToGrpc(driver_->SignalTask(request->task_id(), request->signal())));
  });
  return reactor;
}

grpc::ServerUnaryReactor* DriverService::ExecTask(grpc::CallbackServerContext* ctx,
                                                  const drivers::ExecTaskRequest* request,
                                                  drivers::ExecTaskResponse* response) {
  absl::StatusOr<tasks::ExecCommand> command = driver_->ExecContext(
      request->task_id(), {request->command().begin(), request->command().end()});
  if (!command.ok()) return Done(ctx, ToGrpc(command.status()));
  auto* reactor = ctx->DefaultReactor();
  tasks::ExecRequest exec;
  exec.command = *std::move(command);
  exec.max_output_bytes = kExecOutputBytes;
  if (request->has_timeout()) {
    const absl::Duration timeout = FromProto(request->timeout());
    if (timeout > absl::ZeroDuration()) exec.timeout = timeout;
  }
  // Script checks wait on the command; keep that wait off gRPC's callback threads, on a pool
  // of its own so slow checks never delay StopTask's failover hand-over.
  exec_calls_->Run([reactor, response, exec = std::move(exec)] {
    absl::StatusOr<tasks::ExecResult> result = tasks::RunExec(exec);
    if (!result.ok()) {
      reactor->Finish(ToGrpc(result.status()));
      return;
    }
    response->set_stdout(result->stdout_bytes);
    response->set_stderr(result->stderr_bytes);
    response->mutable_result()->set_exit_code(result->exit_code);
    response->mutable_result()->set_signal(result->signal);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerBidiReactor<drivers::ExecTaskStreamingRequest, drivers::ExecTaskStreamingResponse>*
DriverService::ExecTaskStreaming(grpc::CallbackServerContext*) {
  return NewExecStream(driver_);
}

}  // namespace carp_exec::service
