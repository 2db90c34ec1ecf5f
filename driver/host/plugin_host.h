#pragma once
// Serves the plugin's gRPC services the way go-plugin's client expects, from the handshake line
// to the exit. Owns the unix socket, the gRPC health status for service "plugin", and
// go-plugin's controller, stdio and broker services.
//
// The socket: in a private 0700 directory (mkdtemp under $TMPDIR), or directly in
// PLUGIN_UNIX_SOCKET_DIR when the agent sets it; either way under a fresh random name
// (`plugin<16 hex>.sock`), mode 0600 (0660 with PLUGIN_UNIX_SOCKET_GROUP) before the handshake
// announces it, and on exit only the socket this process bound is removed (checked by inode),
// so two plugins sharing a directory never remove each other's.

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace carp_exec::host {

class PluginHost {
 public:
  // The largest request the server accepts; larger ones fail with RESOURCE_EXHAUSTED before
  // they are buffered. Nomad's own external drivers accept 4 MiB (go-plugin's server,
  // grpc_server.go, builds a grpc-go server with its default 4 MiB receive limit, server.go
  // defaultServerMaxReceiveMessageSize), so no job Nomad can run elsewhere needs more; 16 MiB
  // leaves room for an unusually large StartTask environment while keeping a hostile or buggy
  // sender from making the plugin buffer 2 GiB. It also bounds one exec stdin message.
  static constexpr size_t kMaxReceiveMessageBytes = size_t{16} * 1024 * 1024;
  // No grpc::ResourceQuota is set, on purpose. gRPC C++ 1.51 compares a request with the
  // receive limit only once it is complete, so an oversized one costs its size for a moment; a
  // 64 MiB quota bounded that, but under its pressure gRPC reset the connection's other
  // streams (RST_STREAM ENHANCE_YOUR_CALM on the agent's Fingerprint stream,
  // tests/security/stream_grpc_limits_test): WaitTask among them, which Nomad would take for a
  // task failure. Only the agent can reach the socket, and it holds the same request itself.
  // How often Run() gives freed heap memory back to the kernel (memory_release.h).
  static constexpr absl::Duration kMemoryReleaseInterval = absl::Seconds(10);
  // The socket's mode: only the plugin's user (root, like the agent) may connect.
  static constexpr mode_t kSocketMode = 0600;
  static constexpr mode_t kGroupSocketMode = 0660;  // with PLUGIN_UNIX_SOCKET_GROUP

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
  // After bind (made with kSocketMode by Run's umask): checks the path is a socket we own with
  // that mode, without following symlinks, and records its inode.
  absl::Status SecureSocket();
  // Gives the socket SecureSocket recorded to `gid` with kGroupSocketMode, never following a
  // symlink; an error when the path no longer names that socket.
  absl::Status ShareSocketWithGroup(gid_t gid);
  void RemoveSocket();

  std::vector<grpc::Service*> services_;
  std::function<void()> on_stop_serving_;
  std::function<void()> on_shutdown_;
  std::string socket_dir_;
  std::string socket_path_;
  bool own_socket_dir_ = false;
  dev_t socket_dev_ = 0;  // identity of the socket we bound, so RemoveSocket spares others'
  ino_t socket_ino_ = 0;
};

// Installs the plugin's signal dispositions: SIGINT caught and ignored (a Ctrl-C on a
// foreground agent reaches the whole process group; a handler, unlike SIG_IGN, is not
// inherited by the tasks we exec), SIGPIPE ignored (stderr breaks when the agent is gone),
// SIGTERM → RequestShutdown().
void InstallPluginSignalHandlers();

}  // namespace carp_exec::host
