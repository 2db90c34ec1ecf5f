#pragma once
// TaskRunner: every task of one plugin instance, from StartTask to DestroyTask.
//
// Each task runs under its own supervisor process (`carp_exec supervise <dir>`, see
// supervisor.h) which is the task's parent, keeps its exit status in the task's state directory
// and outlives this object, so a new TaskRunner over the same state directory can Recover it.
// One watcher thread polls a connection to every supervisor and notices exits by EOF; one
// TimerQueue thread escalates stops. No thread is parked per waiter.
//
// Thread-safe. Callbacks (`done`) run on the watcher thread, the timer thread or, when the answer
// is known at once, on the caller's thread inside the call; no runner lock is held while they
// run, so they may call back into the runner, but they must not block.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "carp_exec/driver_state.pb.h"
#include "driver/tasks/id_ranges.h"
#include "driver/tasks/task_types.h"
#include "driver/tasks/timer_queue.h"

namespace carp_exec::tasks {

struct TaskRunnerOptions {
  // Root of our persistent state (plugin config; /var/lib/carp_exec on Linux, /var/db/carp_exec
  // on BSD). Task directories live in <state_dir>/tasks/. Must be short enough for a unix socket
  // path (see state_dir.h).
  std::string state_dir;
  // Executable that dispatches `<exe> supervise <dir>` to RunSupervisor: the plugin's own binary
  // (CurrentExecutablePath) or, in tests, carp_tasks_supervisor_for_tests.
  std::string supervisor_path;
  // Users whose uid or primary gid falls in one of these ranges are refused.
  IdRanges denied_uids;
  IdRanges denied_gids;
  // How long Start waits for the supervisor to report the exec.
  absl::Duration start_timeout = absl::Seconds(30);
  // How long Stop and Destroy wait for the exit after SIGKILL before giving up with an error.
  absl::Duration kill_grace = absl::Seconds(15);
  // How long Recover keeps trying a supervisor that is alive but does not answer before it
  // kills the task's process group and the supervisor (Nomad never retries RecoverTask).
  absl::Duration recover_patience = absl::Seconds(10);
};

using WaitHandle = uint64_t;
using WaitCallback = std::function<void(absl::StatusOr<ExitResult>)>;
using StopCallback = std::function<void(absl::Status)>;

class TaskRunner {
 public:
  // Creates <state_dir>/tasks (0700) if needed, checks the supervisor executable and the socket
  // path length, and starts the watcher thread. Tasks already on disk are left alone until
  // Recover is called for them.
  static absl::StatusOr<std::unique_ptr<TaskRunner>> Create(TaskRunnerOptions options);

  // Stops the threads and closes connections. Tasks keep running under their supervisors.
  // Pending waiters and stops get UNAVAILABLE ("task runner shut down").
  ~TaskRunner();
  TaskRunner(const TaskRunner&) = delete;
  TaskRunner& operator=(const TaskRunner&) = delete;

  // Launches the task under a new supervisor and returns once it was exec'd (or failed to be).
  // Errors: AlreadyExists for a known id; InvalidArgument for a bad spec; NotFound "no such
  // command"; PermissionDenied for a denied user or a non-executable command; "unknown user";
  // errors that may succeed on retry (EAGAIN, ENOMEM, Nomad's FIFO not ready) satisfy
  // IsRecoverable (task_errors.h).
  absl::StatusOr<StartedTask> Start(const LaunchSpec& spec);

  // Re-attaches to a task of an earlier runner from TaskHandle.driver_state. A known id is a
  // no-op; an empty task_id means "the id inside driver_state" (Nomad sends it empty). Recorded
  // exit ⇒ tracked as exited with its true status; supervisor answering ⇒ running; supervisor
  // provably gone (pid + start time) ⇒ its orphaned task group is killed and FailedPrecondition
  // "task <id> cannot be recovered: ..."; supervisor alive but silent ⇒ tried again (backoff
  // up to 1 s) for recover_patience, then the task's group and the supervisor are killed and
  // FailedPrecondition. Blocks the caller meanwhile. Not a carp_exec driver_state ⇒
  // InvalidArgument.
  absl::Status Recover(absl::string_view task_id, absl::string_view driver_state);

  // Calls `done` exactly once with the exit (at once if the task already exited), or NotFound for
  // an unknown id (then the returned handle is 0). Many waiters per task are fine.
  WaitHandle Wait(absl::string_view task_id, WaitCallback done);
  // Forgets a pending waiter without calling it. Returns false if `done` already ran or is
  // running (the caller then gets its answer through `done`).
  bool CancelWait(WaitHandle handle);

  // Sends `signo` to the task's process group. NotFound for an unknown id; FailedPrecondition if
  // the task has exited.
  absl::Status Signal(absl::string_view task_id, int signo);

  // Sends `signo` to the group, SIGKILLs the group after `timeout` (at once if timeout <= 0), and
  // calls `done` once the task is gone: OK, or an error if the id is unknown or the task outlived
  // SIGKILL by kill_grace. An exited task ⇒ OK at once. The caller picks the default signal.
  void Stop(absl::string_view task_id, absl::Duration timeout, int signo, StopCallback done);

  // Running && !force ⇒ FailedPrecondition "cannot destroy running task". force ⇒ SIGKILL the
  // group and wait up to kill_grace for the exit. Then removes the task's state directory and
  // forgets the task. Unknown id ⇒ NotFound naming it.
  absl::Status Destroy(absl::string_view task_id, bool force);

  // A forced DestroyTask of an id this runner does not know (Nomad's clean-up after a failed
  // RecoverTask): finds <state_dir>/tasks/<hash of id>, checks that its spec names `task_id`,
  // ends the task (asks its supervisor for SIGKILL, else kills the group and the supervisor
  // itself, each only if its pid still has the recorded start time) and removes the directory.
  // Returns what it found (for the failover logic), or NotFound when there is no such task.
  absl::StatusOr<TaskStatus> DestroyUnknown(absl::string_view task_id);

  absl::StatusOr<TaskStatus> Inspect(absl::string_view task_id);

  // The resolved launch of a task (command, args, env, work dir, credentials), e.g. for exec.
  absl::StatusOr<state::LaunchSpec> ResolvedLaunch(absl::string_view task_id);

  // Running tasks with their process ids and start times, for statistics.
  std::vector<TaskProcessInfo> RunningProcesses();
  absl::StatusOr<TaskProcessInfo> ProcessOf(absl::string_view task_id);

  const TaskRunnerOptions& options() const { return options_; }

 private:
  struct StopWaiter {
    StopCallback done;
    TimerQueue::TimerId kill_timer = 0;
    TimerQueue::TimerId give_up_timer = 0;
  };
  struct Task {
    std::string id;
    std::string dir;
    state::DriverState driver_state;
    bool starting = true;  // reserved by Start/Recover, invisible to other calls until false
    int watch_fd = -1;     // connection to the supervisor; closed by the watcher thread only
    bool exited = false;
    ExitResult result;
    absl::Time completed_at = absl::UnixEpoch();
    std::vector<std::pair<WaitHandle, WaitCallback>> waiters;
    std::vector<std::shared_ptr<StopWaiter>> stops;
  };

  TaskRunner(TaskRunnerOptions options, int wake_read, int wake_write);

  // task_runner_launch.cc
  absl::StatusOr<StartedTask> Launch(const LaunchSpec& spec);
  absl::Status Adopt(const std::string& id, const state::DriverState& driver_state);
  // One look: exit.pb, else a connect to the supervisor. true ⇒ published; false ⇒ silent.
  absl::StatusOr<bool> AttachOnce(const std::string& id, const state::DriverState& driver_state);
  // Makes a reserved task visible: running with `watch_fd`, or exited with `exit`.
  void Publish(const std::string& id, const state::DriverState& driver_state, int watch_fd,
               std::optional<std::pair<ExitResult, absl::Time>> exit) ABSL_LOCKS_EXCLUDED(mu_);
  void Unreserve(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);

  // task_runner_watch.cc
  void WatchLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void OnSupervisorGone(int fd) ABSL_LOCKS_EXCLUDED(mu_);
  void Finish(const std::string& id, const ExitResult& result, absl::Time completed_at)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Wake();

  Task* FindLocked(absl::string_view id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SendSignal(const std::string& id, const std::string& dir, int signo);
  void OnKillTimer(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  void OnGiveUpTimer(const std::string& id, const std::shared_ptr<StopWaiter>& stop)
      ABSL_LOCKS_EXCLUDED(mu_);

  const TaskRunnerOptions options_;
  const int wake_read_;
  const int wake_write_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Task>> tasks_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int, std::string> task_by_fd_ ABSL_GUARDED_BY(mu_);
  std::vector<int> fds_to_close_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<WaitHandle, std::string> wait_owner_ ABSL_GUARDED_BY(mu_);
  WaitHandle next_wait_ ABSL_GUARDED_BY(mu_) = 1;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  // Reset early in the destructor, so no timer callback runs while the rest is torn down.
  std::unique_ptr<TimerQueue> timers_;
  std::thread watcher_;
};

}  // namespace carp_exec::tasks
