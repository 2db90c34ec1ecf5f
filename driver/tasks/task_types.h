#pragma once
// Plain value types of the task lifecycle: what the service adapter fills from a StartTask
// request, and what TaskRunner hands back. No gRPC, no protobuf in these types.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace carp_exec::tasks {

// One StartTask, before resolution. TaskRunner::Start resolves the command, the user and the
// work dir; everything else is used as given.
struct LaunchSpec {
  std::string task_id;  // Nomad's `<alloc_id>/<task>/<8 hex>`; unique per start
  std::string alloc_id;
  std::string task_name;
  // Absolute host path, or a name looked up in <task_dir>/local/, <task_dir>/, then the PATH
  // of `env` (like raw_exec).
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // the complete environment of the task
  std::string work_dir;                    // empty ⇒ task_dir
  std::string user;                        // empty ⇒ the plugin's own user
  std::string stdout_path;                 // Nomad's FIFO, /dev/null or a file; empty ⇒ /dev/null
  std::string stderr_path;
  std::string task_dir;
  std::string alloc_dir;
  bool guarded = false;  // the failover logic guards this task
  std::string ready;     // opaque bytes for the failover logic, kept across recovery
  // Linux: written to the task's /proc/self/oom_score_adj before exec, like raw_exec (0 also
  // undoes a value inherited from the agent). Ignored on other systems.
  int oom_score_adj = 0;
  // Linux: the alloc's group network namespace (network_isolation_spec.path, mode GROUP); the
  // task and its exec sessions run in it, like raw_exec. Empty ⇒ the host's network.
  std::string netns_path;
};

struct StartedTask {
  pid_t pid = 0;  // the task's main process, also its process-group id
  absl::Time started_at;
  std::string driver_state;  // serialized carp_exec.state.DriverState for TaskHandle
};

// How a task ended, in Nomad's ExitResult terms: killed by signal N ⇒ signal=N, exit_code=128+N.
// A supervisor that vanished without recording the status ⇒ exit_code=-1 and `err` set.
struct ExitResult {
  int exit_code = 0;
  int signal = 0;
  bool oom_killed = false;
  std::string err;
};

enum class TaskState { kRunning, kExited };

struct TaskStatus {
  std::string task_id;
  std::string task_name;
  std::string alloc_id;
  TaskState state = TaskState::kRunning;
  absl::Time started_at = absl::UnixEpoch();
  absl::Time completed_at = absl::UnixEpoch();  // UnixEpoch while running
  ExitResult result;                            // meaningful once kExited
  pid_t pid = 0;
  bool guarded = false;
  std::string ready;
};

// The processes behind one running task, for resource statistics.
struct TaskProcessInfo {
  std::string task_id;
  pid_t pid = 0;            // main process
  pid_t pgid = 0;           // == pid
  uint64_t start_time = 0;  // see process_identity.h; guards against pid reuse
  pid_t supervisor_pid = 0;
};

// A task found in the state directory at plugin start, before Nomad calls RecoverTask.
struct PersistedTask {
  enum class Liveness {
    kRunning,  // the supervisor answers on its socket
    kExited,   // exit.pb was recorded
    kLost,     // neither: supervisor gone, status unknown
  };
  std::string task_id;
  std::string state_dir;  // <state_dir>/tasks/<16 hex>
  bool guarded = false;
  std::string ready;
  Liveness liveness = Liveness::kLost;
};

}  // namespace carp_exec::tasks
