#pragma once
// go-plugin's own services every plugin serves beside its real ones:
// plugin.GRPCController (Shutdown), plugin.GRPCStdio (StreamStdio) and plugin.GRPCBroker.

#include <memory>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "plugin/grpc_broker.grpc.pb.h"
#include "plugin/grpc_controller.grpc.pb.h"
#include "plugin/grpc_stdio.grpc.pb.h"

namespace carp_exec::host {

class GoPluginServices {
 public:
  GoPluginServices();
  ~GoPluginServices();
  GoPluginServices(const GoPluginServices&) = delete;
  GoPluginServices& operator=(const GoPluginServices&) = delete;

  void RegisterWith(grpc::ServerBuilder& builder);
  // Ends the open stdio and broker streams so the server can shut down without waiting.
  void CloseStreams();

  class Controller;
  class Stdio;
  class Broker;

 private:
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<Stdio> stdio_;
  std::unique_ptr<Broker> broker_;
};

}  // namespace carp_exec::host
