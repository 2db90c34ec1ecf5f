#pragma once
// hashicorp.nomad.plugins.drivers.proto.Driver, as a thin adapter over Driver.
//
// Every RPC uses gRPC's callback API. Calls that wait (WaitTask, StopTask) are completed later
// from the task runner's or the failover worker's thread; streams (Fingerprint, TaskEvents,
// TaskStats) are fed by one timer thread and by event pushes. No thread is parked per call, so
// 1,000 tasks with WaitTask and TaskStats open do not mean 1,000 threads.

#include <memory>

#include "driver/driver.h"
#include "driver/service/blocking_calls.h"
#include "driver/service/task_streams.h"
#include "nomad/driver.grpc.pb.h"

namespace carp_exec::service {

namespace drivers = hashicorp::nomad::plugins::drivers::proto;

class DriverService final : public drivers::Driver::CallbackService {
 public:
  explicit DriverService(Driver* driver);
  ~DriverService() override;

  // Ends the open streams (plugin shutdown) so the server can stop at once.
  void CloseStreams();

  grpc::ServerUnaryReactor* Init(grpc::CallbackServerContext* ctx, const drivers::InitRequest*,
                                 drivers::InitResponse*) override;
  grpc::ServerUnaryReactor* TaskConfigSchema(grpc::CallbackServerContext* ctx,
                                             const drivers::TaskConfigSchemaRequest*,
                                             drivers::TaskConfigSchemaResponse* response) override;
  grpc::ServerUnaryReactor* Capabilities(grpc::CallbackServerContext* ctx,
                                         const drivers::CapabilitiesRequest*,
                                         drivers::CapabilitiesResponse* response) override;
  grpc::ServerWriteReactor<drivers::FingerprintResponse>* Fingerprint(
      grpc::CallbackServerContext* ctx, const drivers::FingerprintRequest*) override;
  grpc::ServerUnaryReactor* RecoverTask(grpc::CallbackServerContext* ctx,
                                        const drivers::RecoverTaskRequest* request,
                                        drivers::RecoverTaskResponse*) override;
  grpc::ServerUnaryReactor* StartTask(grpc::CallbackServerContext* ctx,
                                      const drivers::StartTaskRequest* request,
                                      drivers::StartTaskResponse* response) override;
  grpc::ServerUnaryReactor* WaitTask(grpc::CallbackServerContext* ctx,
                                     const drivers::WaitTaskRequest* request,
                                     drivers::WaitTaskResponse* response) override;
  grpc::ServerUnaryReactor* StopTask(grpc::CallbackServerContext* ctx,
                                     const drivers::StopTaskRequest* request,
                                     drivers::StopTaskResponse*) override;
  grpc::ServerUnaryReactor* DestroyTask(grpc::CallbackServerContext* ctx,
                                        const drivers::DestroyTaskRequest* request,
                                        drivers::DestroyTaskResponse*) override;
  grpc::ServerUnaryReactor* InspectTask(grpc::CallbackServerContext* ctx,
                                        const drivers::InspectTaskRequest* request,
                                        drivers::InspectTaskResponse* response) override;
  grpc::ServerWriteReactor<drivers::TaskStatsResponse>* TaskStats(
      grpc::CallbackServerContext* ctx, const drivers::TaskStatsRequest* request) override;
  grpc::ServerWriteReactor<drivers::DriverTaskEvent>* TaskEvents(
      grpc::CallbackServerContext* ctx, const drivers::TaskEventsRequest*) override;
  grpc::ServerUnaryReactor* Shutdown(grpc::CallbackServerContext* ctx,
                                     const drivers::ShutdownRequest*,
                                     drivers::ShutdownResponse*) override;
  grpc::ServerUnaryReactor* SignalTask(grpc::CallbackServerContext* ctx,
                                       const drivers::SignalTaskRequest* request,
                                       drivers::SignalTaskResponse*) override;
  grpc::ServerUnaryReactor* ExecTask(grpc::CallbackServerContext* ctx,
                                     const drivers::ExecTaskRequest* request,
                                     drivers::ExecTaskResponse* response) override;
  grpc::ServerBidiReactor<drivers::ExecTaskStreamingRequest, drivers::ExecTaskStreamingResponse>*
  ExecTaskStreaming(grpc::CallbackServerContext* ctx) override;

 private:
  // Work that may block (a stuck supervisor) runs here, never on gRPC's few handler threads.
  // Eight keeps the plugin far under Nomad-scale thread budgets (bench: 13 threads idle).
  static constexpr int kBlockingThreads = 8;

  // ExecTask (script checks) waits for a command up to its timeout. Its own pool, so a node's
  // checks queue behind each other, not in front of StopTask; four run at once.
  static constexpr int kExecThreads = 4;

  Driver* driver_;
  std::unique_ptr<TaskStreams> streams_;
  std::unique_ptr<BlockingCalls> blocking_;
  std::unique_ptr<BlockingCalls> exec_calls_;  // last: joined first on destruction
};

}  // namespace carp_exec::service
