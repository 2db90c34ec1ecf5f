// TaskRunner: construction, the calls on known tasks (wait, signal, stop, destroy, inspect).
// Launch and recovery are in task_runner_launch.cc, the watcher thread in task_runner_watch.cc.
#include "driver/tasks/task_runner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "driver/mutex_lock.h"
#include "driver/tasks/atomic_file.h"
#include "driver/tasks/signal_names.h"
#include "driver/tasks/state_dir.h"
#include "driver/tasks/supervisor_protocol.h"

namespace carp_exec::tasks {
namespace {

constexpr absl::Duration kSupervisorAnswerTimeout = absl::Seconds(5);

absl::Status NotFound(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("task \"", id,
                                          "\" not found: it was never started or recovered by "
                                          "this plugin, or was destroyed"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TaskRunner>> TaskRunner::Create(TaskRunnerOptions options) {
  if (options.state_dir.empty() || options.state_dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("state_dir \"", options.state_dir, "\" must be an absolute path"));
  }
  while (options.state_dir.size() > 1 && options.state_dir.back() == '/') {
    options.state_dir.pop_back();
  }
  if (absl::Status fits = CheckSocketPathFits(options.state_dir); !fits.ok()) return fits;
  if (access(options.supervisor_path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("supervisor executable \"",
                                                      options.supervisor_path,
                                                      "\" cannot be run: ", strerror(errno)));
  }
  // state_dir is checked before anything is created, read or written under it (issue 9), and
  // again once tasks/ exists.
  for (const std::string& dir : {options.state_dir, TasksRoot(options.state_dir)}) {
    if (absl::Status made = MakeDirectories(dir); !made.ok()) {
      return absl::PermissionDeniedError(
          absl::StrCat("state_dir: ", made.message(), "; create it or choose another state_dir"));
    }
    if (absl::Status safe = CheckStateDirOwnership(options.state_dir); !safe.ok()) return safe;
  }
  int wake[2];
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("task runner: pipe: ", strerror(errno)));
  }
  return std::unique_ptr<TaskRunner>(new TaskRunner(std::move(options), wake[0], wake[1]));
}

TaskRunner::TaskRunner(TaskRunnerOptions options, int wake_read, int wake_write)
    : options_(std::move(options)),
      wake_read_(wake_read),
      wake_write_(wake_write),
      timers_(std::make_unique<TimerQueue>()) {
  watcher_ = std::thread([this] { WatchLoop(); });
}

TaskRunner::~TaskRunner() {
  {
    carp_exec::MutexLock lock(mu_);
    shutting_down_ = true;
  }
  Wake();
  watcher_.join();
  timers_.reset();  // after the watcher, which cancels timers; before the state timers touch
  std::vector<WaitCallback> waits;
  std::vector<StopCallback> stops;
  {
    carp_exec::MutexLock lock(mu_);
    for (auto& [id, task] : tasks_) {
      for (auto& waiter : task->waiters) waits.push_back(std::move(waiter.second));
      for (auto& stop : task->stops) stops.push_back(std::move(stop->done));
      if (task->watch_fd >= 0) close(task->watch_fd);
    }
    for (int fd : fds_to_close_) close(fd);
    tasks_.clear();
  }
  absl::Status gone =
      absl::UnavailableError("task runner shut down; the task keeps running under its supervisor");
  for (auto& done : waits) done(gone);
  for (auto& done : stops) done(gone);
  close(wake_read_);
  close(wake_write_);
}

TaskRunner::Task* TaskRunner::FindLocked(absl::string_view id) {
  auto it = tasks_.find(id);
  if (it == tasks_.end() || it->second->starting) return nullptr;
  return it->second.get();
}

absl::StatusOr<StartedTask> TaskRunner::Start(const LaunchSpec& spec) {
  {
    carp_exec::MutexLock lock(mu_);
    if (tasks_.contains(spec.task_id)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "task \"", spec.task_id, "\" already exists; Nomad starts every task with a new id"));
    }
    auto task = std::make_unique<Task>();
    task->id = spec.task_id;
    tasks_.emplace(spec.task_id, std::move(task));
  }
  absl::StatusOr<StartedTask> started = Launch(spec);
  if (!started.ok()) Unreserve(spec.task_id);
  return started;
}

void TaskRunner::Unreserve(const std::string& id) {
  carp_exec::MutexLock lock(mu_);
  auto it = tasks_.find(id);
  if (it != tasks_.end() && it->second->starting) tasks_.erase(it);
}

WaitHandle TaskRunner::Wait(absl::string_view task_id, WaitCallback done) {
  std::optional<ExitResult> result;
  WaitHandle handle = 0;
  {
    carp_exec::MutexLock lock(mu_);
    Task* task = FindLocked(task_id);
    if (task != nullptr && task->exited) {
      result = task->result;
    } else if (task != nullptr) {
      handle = next_wait_++;
      task->waiters.emplace_back(handle, std::move(done));
      wait_owner_.emplace(handle, task->id);
      return handle;
    }
  }
  if (result.has_value()) {
    done(*result);
  } else {
    done(NotFound(task_id));
  }
  return 0;
}

bool TaskRunner::CancelWait(WaitHandle handle) {
  carp_exec::MutexLock lock(mu_);
  auto owner = wait_owner_.find(handle);
  if (owner == wait_owner_.end()) return false;
  Task* task = FindLocked(owner->second);
  wait_owner_.erase(owner);
  if (task == nullptr) return false;
  for (auto it = task->waiters.begin(); it != task->waiters.end(); ++it) {
    if (it->first == handle) {
      task->waiters.erase(it);
      return true;
    }
  }
  return false;
}

absl::Status TaskRunner::SendSignal(const std::string& id, const std::string& dir, int signo) {
  absl::StatusOr<std::string> reply =
      AskSupervisor(absl::StrCat(dir, "/", kSocketFile), absl::StrCat("signal ", signo),
                    kSupervisorAnswerTimeout);
  if (!reply.ok()) {
    if (absl::IsUnavailable(reply.status())) {
      return absl::FailedPreconditionError(absl::StrCat("task \"", id,
                                                        "\" has exited (its supervisor is gone); ",
                                                        SignalName(signo), " not sent"));
    }
    return reply.status();
  }
  if (*reply == "ok") return absl::OkStatus();
  return absl::InternalError(absl::StrCat("task \"", id, "\": supervisor could not send ",
                                          SignalName(signo), ": ", *reply));
}

absl::Status TaskRunner::Signal(absl::string_view task_id, int signo) {
  std::string id(task_id), dir;
  {
    carp_exec::MutexLock lock(mu_);
    Task* task = FindLocked(task_id);
    if (task == nullptr) return NotFound(task_id);
    if (task->exited) {
      return absl::FailedPreconditionError(
          absl::StrCat("task \"", task_id, "\" has exited; ", SignalName(signo), " not sent"));
    }
    dir = task->dir;
  }
  return SendSignal(id, dir, signo);
}

void TaskRunner::Stop(absl::string_view task_id, absl::Duration timeout, int signo,
                      StopCallback done) {
  std::string id(task_id), dir;
  auto stop = std::make_shared<StopWaiter>();
  // Until `stop` joins the task's list below, only this call can reach stop->done.
  stop->done = std::move(done);
  std::optional<absl::Status> answer_now;
  {
    carp_exec::MutexLock lock(mu_);
    Task* task = FindLocked(task_id);
    if (task == nullptr) {
      answer_now = NotFound(task_id);
    } else if (task->exited) {
      answer_now = absl::OkStatus();
    } else {
      dir = task->dir;
      task->stops.push_back(stop);
    }
  }
  if (answer_now.has_value()) {
    stop->done(*answer_now);
    return;
  }
  bool kill_now = timeout <= absl::ZeroDuration();
  // A send failure means the supervisor is gone; the watcher reports the exit and ends the stop.
  (void)SendSignal(id, dir, kill_now ? SIGKILL : signo);
  TimerQueue::TimerId kill_timer = 0;
  if (!kill_now) kill_timer = timers_->ScheduleAfter(timeout, [this, id] { OnKillTimer(id); });
  TimerQueue::TimerId give_up =
      timers_->ScheduleAfter(std::max(timeout, absl::ZeroDuration()) + options_.kill_grace,
                             [this, id, stop] { OnGiveUpTimer(id, stop); });
  carp_exec::MutexLock lock(mu_);
  stop->kill_timer = kill_timer;
  stop->give_up_timer = give_up;
}

void TaskRunner::OnKillTimer(const std::string& id) {
  std::string dir;
  {
    carp_exec::MutexLock lock(mu_);
    Task* task = FindLocked(id);
    if (task == nullptr || task->exited) return;
    dir = task->dir;
  }
  (void)SendSignal(id, dir, SIGKILL);
}

void TaskRunner::OnGiveUpTimer(const std::string& id, const std::shared_ptr<StopWaiter>& stop) {
  {
    carp_exec::MutexLock lock(mu_);
    Task* task = FindLocked(id);
    if (task == nullptr) return;
    auto it = std::find(task->stops.begin(), task->stops.end(), stop);
    if (it == task->stops.end()) return;
    task->stops.erase(it);
  }
  stop->done(absl::DeadlineExceededError(
      absl::StrCat("task \"", id, "\" is still running ", absl::FormatDuration(options_.kill_grace),
                   " after SIGKILL; its supervisor may be stopped or stuck")));
}

absl::Status TaskRunner::Destroy(absl::string_view task_id, bool force) {
  bool running;
  {
    carp_exec::MutexLock lock(mu_);
    Task* task = FindLocked(task_id);
    if (task == nullptr) return NotFound(task_id);
    running = !task->exited;
  }
  if (running && !force) {
    return absl::FailedPreconditionError(
        absl::StrCat("task \"", task_id,
                     "\": cannot destroy running task; stop it first or destroy with force"));
  }
  if (running) {
    auto stopped = std::make_shared<absl::Notification>();
    auto result = std::make_shared<absl::Status>();
    Stop(task_id, absl::ZeroDuration(), SIGKILL, [stopped, result](absl::Status status) {
      *result = std::move(status);
      stopped->Notify();
    });
    stopped->WaitForNotification();  // bounded: Stop gives up after kill_grace
    if (!result->ok()) return *result;
  }
  std::string dir;
  {
    carp_exec::MutexLock lock(mu_);
    auto it = tasks_.find(task_id);
    if (it == tasks_.end() || it->second->starting) return NotFound(task_id);
    Task& task = *it->second;
    if (task.watch_fd >= 0) {
      task_by_fd_.erase(task.watch_fd);
      fds_to_close_.push_back(task.watch_fd);
    }
    dir = task.dir;
    tasks_.erase(it);
  }
  Wake();
  return RemoveTaskDir(dir);
}

absl::StatusOr<TaskStatus> TaskRunner::Inspect(absl::string_view task_id) {
  carp_exec::MutexLock lock(mu_);
  Task* task = FindLocked(task_id);
  if (task == nullptr) return NotFound(task_id);
  const state::DriverState& ds = task->driver_state;
  TaskStatus status;
  status.task_id = task->id;
  status.task_name = ds.spec().task_name();
  status.alloc_id = ds.spec().alloc_id();
  status.state = task->exited ? TaskState::kExited : TaskState::kRunning;
  status.started_at = absl::FromUnixNanos(ds.started_at_unix_nanos());
  status.completed_at = task->completed_at;
  status.result = task->result;
  status.pid = ds.task().pid();
  status.guarded = ds.guarded();
  status.ready = ds.ready();
  return status;
}

absl::StatusOr<state::LaunchSpec> TaskRunner::ResolvedLaunch(absl::string_view task_id) {
  carp_exec::MutexLock lock(mu_);
  Task* task = FindLocked(task_id);
  if (task == nullptr) return NotFound(task_id);
  return task->driver_state.spec();
}

std::vector<TaskProcessInfo> TaskRunner::RunningProcesses() {
  std::vector<TaskProcessInfo> out;
  carp_exec::MutexLock lock(mu_);
  for (const auto& [id, task] : tasks_) {
    if (task->starting || task->exited) continue;
    const state::DriverState& ds = task->driver_state;
    out.push_back(
        {id, ds.task().pid(), ds.task_pgid(), ds.task().start_time(), ds.supervisor().pid()});
  }
  return out;
}

absl::StatusOr<TaskProcessInfo> TaskRunner::ProcessOf(absl::string_view task_id) {
  carp_exec::MutexLock lock(mu_);
  Task* task = FindLocked(task_id);
  if (task == nullptr) return NotFound(task_id);
  if (task->exited) {
    return absl::FailedPreconditionError(absl::StrCat("task \"", task_id, "\" has exited"));
  }
  const state::DriverState& ds = task->driver_state;
  return TaskProcessInfo{task->id, ds.task().pid(), ds.task_pgid(), ds.task().start_time(),
                         ds.supervisor().pid()};
}

}  // namespace carp_exec::tasks
