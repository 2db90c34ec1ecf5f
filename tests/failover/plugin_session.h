#pragma once
// carp_exec running inside an edge namespace of the test bed, driven like the Nomad client does it.
//
// The plugin is launched as `ip netns exec <ns> <plugin>` through the test host (tests/host), so
// the plugin, its task supervisors and the tasks, and every `ip` call the plugin makes to observe
// the VIP, live in that node's network namespace. Configs are encoded from the plugin's own schemas
// the way Nomad encodes them. WaitTask runs in the background for every started task; TaskEvents
// are collected from the moment the session starts. Every RPC carries a deadline; the destructor
// stops the plugin (graceful Shutdown, then SIGKILL) even if a scenario failed half-way.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "tests/host/plugin_process.h"
#include "tests/host/task_fixture.h"

namespace carp_exec::failover_test {

// The plugin's `failover { ... }` block (names as in issue 4), keepalived backend.
struct FailoverBlock {
  std::string track_file;
  std::string state_file;
  std::string vip;
  std::string interface = "eth0";
  std::string confirm_timeout = "5s";
  std::string poll_interval = "20ms";
  int64_t demote_by = 253;          // the keepalived default: priority 1 once demoted
  std::string handover = "resign";  // or "weighted"
};

struct SessionOptions {
  std::string plugin;     // path of build/carp_exec
  std::string ip;         // absolute path of the ip tool
  std::string netns;      // e.g. cx-edge-a
  std::string state_dir;  // the plugin's state directory (fresh per session)
  std::string log_path;   // the plugin's stderr (hclog lines) is written here at the end
  FailoverBlock failover;
};

// A guarded test HTTP server task (tests/failover/http_server.py on :8080).
struct ServerTask {
  std::string python;  // absolute path of python3
  std::string server_script;
  std::string name;       // shown in responses and the server's event log
  std::string event_log;  // the server's JSONL event log
  int port = 8080;
  std::string ready_http = "http://127.0.0.1:8080/ping";
  std::string ready_interval = "50ms";
  std::string ready_timeout = "20s";
};

struct TaskExit {
  absl::Time when;  // when WaitTask returned
  int exit_code = 0;
  int signal = 0;
  std::string error;
};

struct TaskEvent {
  absl::Time received;  // when this test host read it from the stream
  absl::Time stamped;   // the event's own timestamp, set by carp_exec when it emitted the event
  std::string task_id;
  std::string message;
  std::map<std::string, std::string> annotations;
};

class PluginSession {
 public:
  static absl::StatusOr<std::unique_ptr<PluginSession>> Start(SessionOptions options);
  ~PluginSession();
  PluginSession(const PluginSession&) = delete;
  PluginSession& operator=(const PluginSession&) = delete;

  // StartTask of a guarded server; returns the task id. WaitTask starts in the background.
  absl::StatusOr<std::string> StartServer(const ServerTask& task);
  // StopTask with Nomad's kill timeout and signal; returns when the RPC returns.
  absl::Status StopTask(const std::string& task_id, absl::Duration kill_timeout,
                        const std::string& signal);
  absl::Status DestroyTask(const std::string& task_id, bool force);
  // Waits (bounded) for the task's WaitTask to return.
  std::optional<TaskExit> WaitExit(const std::string& task_id, absl::Duration timeout);
  std::vector<TaskEvent> Events() const;
  // Graceful Shutdown (2 s), then SIGKILL; writes the plugin's stderr to options.log_path.
  void Shutdown();
  // SIGKILL of the plugin, as a crash (its tasks and their supervisors live on); its RPCs in
  // flight end, its stderr is written to options.log_path. The task fixtures (alloc dirs, log
  // FIFOs) stay until this session is destroyed, as the Nomad client keeps them.
  // Returns when the SIGKILL was sent.
  absl::Time Crash();
  // The handle StartTask returned for `task_id` (what the Nomad client persists), if any.
  std::optional<test_host::driver_proto::TaskHandle> Handle(const std::string& task_id) const;
  // RecoverTask with a handle from an earlier plugin process; WaitTask starts in the background.
  absl::Status RecoverServer(const test_host::driver_proto::TaskHandle& handle);
  pid_t pid() const { return process_->pid(); }

 private:
  explicit PluginSession(SessionOptions options) : options_(std::move(options)) {}
  absl::Status Configure();
  void ReadEvents();
  void StartWaiter(const std::string& task_id);
  absl::Time EndSession(bool crash);

  SessionOptions options_;
  std::unique_ptr<test_host::PluginProcess> process_;
  std::vector<std::unique_ptr<test_host::TaskFixture>> fixtures_;
  std::vector<std::thread> waiters_;
  std::thread events_thread_;
  grpc::ClientContext events_context_;
  bool shut_down_ = false;
  mutable absl::Mutex mu_;
  std::map<std::string, TaskExit> exits_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, test_host::driver_proto::TaskHandle> handles_ ABSL_GUARDED_BY(mu_);
  std::vector<TaskEvent> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace carp_exec::failover_test
