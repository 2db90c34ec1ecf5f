#pragma once
// Serves the plugin's gRPC services the way go-plugin's client expects, from the handshake line
// to the exit. Owns the unix socket (in a private 0700 directory, removed on exit), the gRPC
// health status for service "plugin", and go-plugin's controller, stdio and broker services.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"

namespace carp_exec::host {

class PluginHost {
 public:
  PluginHost();
  ~PluginHost();
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  // Registers a service; `service` must outlive Run().
  void AddService(grpc::Service* service);

  // Called once when shutdown begins, before the server stops: end the long-lived streams
  // here, so the server stops at once instead of cancelling them at its deadline.
  void OnStopServing(std::function<void()> fn);

  // Called once, after the server stopped accepting RPCs and before Run() returns, so the
  // driver can release what it holds. It must not stop tasks: tasks outlive the plugin.
  void OnShutdown(std::function<void()> fn);

  // Listens, prints the handshake line on stdout (then points fd 1 at /dev/null), and serves
  // until GRPCController.Shutdown or SIGTERM. Returns the process exit code.
  int Run();

  // Asks Run() to stop serving; safe from any thread and from a signal handler.
  static void RequestShutdown();

 private:
  absl::Status MakeSocketDir();
  void RemoveSocket();

  std::vector<grpc::Service*> services_;
  std::function<void()> on_stop_serving_;
  std::function<void()> on_shutdown_;
  std::string socket_dir_;
  std::string socket_path_;
  bool own_socket_dir_ = false;
};

// Installs the plugin's signal dispositions: SIGINT caught and ignored (a Ctrl-C on a
// foreground agent reaches the whole process group; a handler, unlike SIG_IGN, is not
// inherited by the tasks we exec), SIGPIPE ignored (stderr breaks when the agent is gone),
// SIGTERM → RequestShutdown().
void InstallPluginSignalHandlers();

}  // namespace carp_exec::host
