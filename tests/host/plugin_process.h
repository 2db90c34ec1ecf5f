#pragma once
// Launches build/carp_exec the way a Nomad agent does and talks to it like go-plugin's host.
//
// Nomad starts a driver plugin with its own environment plus the go-plugin variables below,
// with stdout and stderr on pipes; it reads the handshake line from stdout (then discards
// stdout), logs every stderr line, dials the announced socket with gRPC, and stops the plugin
// with GRPCController/Shutdown, a 2 s grace period, then SIGKILL. PluginProcess does the same
// and lets tests alter each step. Every wait is bounded, and the destructor kills and reaps
// the process if a test did not, so a failing test never leaves a plugin behind.

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "nomad/base.grpc.pb.h"
#include "nomad/driver.grpc.pb.h"
#include "plugin/grpc_controller.grpc.pb.h"
#include "plugin/grpc_stdio.grpc.pb.h"
#include "tests/host/handshake_line.h"
#include "tests/host/health_check.h"
#include "tests/host/process_output.h"

namespace carp_exec::test_host {

namespace base_proto = ::hashicorp::nomad::plugins::base::proto;
namespace driver_proto = ::hashicorp::nomad::plugins::drivers::proto;

inline constexpr char kMagicCookieKey[] = "NOMAD_PLUGIN_MAGIC_COOKIE";
inline constexpr char kMagicCookieValue[] =
    "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255";

// Path of the plugin under test: $CARP_EXEC_BINARY if set, else the path CMake compiled in.
std::string PluginBinaryPath();

// What to launch and with which environment. The defaults are exactly what Nomad sets;
// std::nullopt leaves a variable out entirely.
struct LaunchOptions {
  std::string binary = PluginBinaryPath();
  std::vector<std::string> args;
  std::optional<std::string> magic_cookie = std::string(kMagicCookieValue);
  std::optional<std::string> protocol_versions = "2";
  std::optional<std::string> min_port = "10000";
  std::optional<std::string> max_port = "25000";
  bool inherit_environment = true;     // Nomad passes the agent's environment on
  std::vector<std::string> unset_env;  // removed from the inherited environment
  std::vector<std::pair<std::string, std::string>> extra_env;  // set last, overriding
  absl::Duration handshake_timeout = absl::Seconds(15);        // Nomad waits 1 min
};

// What Nomad's graceful kill observed.
struct ShutdownReport {
  absl::Status rpc;              // result of GRPCController/Shutdown
  bool exited_in_grace = false;  // exited within the grace period, without SIGKILL
  absl::Duration time_to_exit;   // from sending Shutdown to the process being reaped
};

class PluginProcess {
 public:
  // Forks and execs the plugin with pipes on stdout/stderr; does not read the handshake.
  static absl::StatusOr<std::unique_ptr<PluginProcess>> Spawn(const LaunchOptions& options);

  // Spawn, read and check the handshake, connect, and require health `plugin` SERVING:
  // a plugin ready for RPCs, as the Nomad agent has it after dispensing.
  static absl::StatusOr<std::unique_ptr<PluginProcess>> Start(
      const LaunchOptions& options = LaunchOptions());

  ~PluginProcess();  // Kills (SIGKILL) and reaps a still-running plugin.
  PluginProcess(const PluginProcess&) = delete;
  PluginProcess& operator=(const PluginProcess&) = delete;

  pid_t pid() const { return pid_; }
  const LaunchOptions& options() const { return options_; }

  // Waits for the first stdout line (64 KiB limit, like the host) and checks it against the
  // offered versions in PLUGIN_PROTOCOL_VERSIONS. Stores the result for Connect().
  absl::StatusOr<std::string> ReadHandshakeLine(absl::Time deadline);
  absl::StatusOr<Handshake> ReadHandshake(absl::Time deadline);
  const std::optional<Handshake>& handshake() const { return handshake_; }

  // Dials the announced address (max message sizes raised like the Go host) and waits until
  // the channel is connected.
  absl::Status Connect(absl::Time deadline);
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  absl::StatusOr<ServingStatus> Health(absl::string_view service = "plugin",
                                       absl::Duration timeout = absl::Seconds(5));

  // Stubs on the connected channel (Connect() first).
  plugin::GRPCController::Stub& controller() { return *controller_; }
  plugin::GRPCStdio::Stub& stdio() { return *stdio_; }
  base_proto::BasePlugin::Stub& base() { return *base_; }
  driver_proto::Driver::Stub& driver() { return *driver_; }

  // Output collected from the pipes.
  const ProcessOutput& output() const { return *output_; }
  std::vector<std::string> StderrLines() const { return output_->StderrLines(); }

  // Process control. Signal() refuses once the process is reaped (its pid may be reused).
  absl::Status Signal(int signal_number);
  bool WaitForExit(absl::Duration timeout);  // true once reaped
  bool running();                            // not yet reaped (reaps a zombie on the way)
  std::optional<int> exit_status() const { return exit_status_; }  // raw waitpid status
  std::string DescribeExit() const;  // "exit code 1", "signal 9", "still running"

  // Nomad's Kill(): controller Shutdown, wait `grace`, then SIGKILL; always reaped after.
  ShutdownReport Shutdown(absl::Duration grace = absl::Seconds(2));
  // SIGKILL now, as a crash would; reaped before returning. A killed plugin cannot remove its
  // socket, so the host removes the socket file and its (then empty) private directory.
  void Kill();

 private:
  PluginProcess(LaunchOptions options, pid_t pid, int stdout_fd, int stderr_fd);
  bool Reap(bool block);
  void KillWithoutCleanup();
  void RemoveLeftoverSocket();

  LaunchOptions options_;
  pid_t pid_;
  std::optional<int> exit_status_;
  std::unique_ptr<ProcessOutput> output_;
  std::optional<Handshake> handshake_;
  std::string announced_socket_;  // unix socket path from the line, even if it was refused
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<plugin::GRPCController::Stub> controller_;
  std::unique_ptr<plugin::GRPCStdio::Stub> stdio_;
  std::unique_ptr<base_proto::BasePlugin::Stub> base_;
  std::unique_ptr<driver_proto::Driver::Stub> driver_;
};

// Sets a deadline `timeout` from now; every test RPC carries one so nothing hangs forever.
void SetDeadline(grpc::ClientContext* context, absl::Duration timeout);

// A grpc::Status as an absl::Status with the same code and message, prefixed with `what`.
absl::Status ToStatus(const grpc::Status& status, absl::string_view what);

}  // namespace carp_exec::test_host
