// TaskRunner: the watcher thread. It polls one connection per running supervisor; EOF on it
// means the supervisor exited, which it does only after recording the task's exit.
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "absl/strings/str_cat.h"
#include "driver/log/hclog.h"
#include "driver/mutex_lock.h"
#include "driver/tasks/process_identity.h"
#include "driver/tasks/state_dir.h"
#include "driver/tasks/supervisor_protocol.h"
#include "driver/tasks/task_runner.h"

namespace carp_exec::tasks {

void TaskRunner::Wake() {
  char byte = 0;
  // A full pipe already guarantees a wake-up; nothing to do on EAGAIN.
  (void)!write(wake_write_, &byte, 1);
}

void TaskRunner::WatchLoop() {
  std::vector<pollfd> fds;
  while (true) {
    std::vector<int> to_close;
    fds.clear();
    fds.push_back({wake_read_, POLLIN, 0});
    {
      carp_exec::MutexLock lock(mu_);
      if (shutting_down_) return;
      to_close.swap(fds_to_close_);
      for (const auto& [fd, id] : task_by_fd_) fds.push_back({fd, POLLIN, 0});
    }
    for (int fd : to_close) close(fd);
    if (poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents != 0) {
      char drain[256];
      while (read(wake_read_, drain, sizeof(drain)) > 0) {
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      char buf[64];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0 || (n < 0 && (errno == EINTR || errno == EAGAIN))) continue;
      OnSupervisorGone(fds[i].fd);
    }
  }
}

void TaskRunner::OnSupervisorGone(int fd) {
  std::string id;
  state::DriverState ds;
  {
    carp_exec::MutexLock lock(mu_);
    auto owner = task_by_fd_.find(fd);
    if (owner == task_by_fd_.end()) return;  // destroyed meanwhile; its fd is queued for close
    id = owner->second;
    task_by_fd_.erase(owner);
    auto it = tasks_.find(id);
    if (it != tasks_.end()) {
      it->second->watch_fd = -1;
      ds = it->second->driver_state;
    }
  }
  close(fd);  // only this thread closes watch fds, so the number was not reused meanwhile
  state::ExitRecord record;
  absl::Status read = ReadMessage(absl::StrCat(ds.task_state_dir(), "/", kExitFile), &record);
  if (read.ok()) {
    Finish(id, {record.exit_code(), record.signal(), record.oom_killed(), record.err()},
           absl::FromUnixNanos(record.completed_at_unix_nanos()));
    return;
  }
  // A supervisor that still lives closed our connection for another reason (e.g. its connection
  // limit): watch it again rather than declare the task lost.
  if (IsLiveProcess(ds.supervisor().pid(), ds.supervisor().start_time())) {
    absl::StatusOr<int> again =
        ConnectSupervisor(absl::StrCat(ds.task_state_dir(), "/", kSocketFile));
    if (again.ok()) {
      carp_exec::MutexLock lock(mu_);
      Task* task = FindLocked(id);
      if (task != nullptr && !task->exited && task->watch_fd < 0) {
        task->watch_fd = *again;
        task_by_fd_[*again] = id;
        return;  // the poll set is rebuilt on the next loop turn
      }
      fds_to_close_.push_back(*again);
      return;
    }
    // The socket is gone while the process lives: it is exiting; exit.pb is written first.
    if (ReadMessage(absl::StrCat(ds.task_state_dir(), "/", kExitFile), &record).ok()) {
      Finish(id, {record.exit_code(), record.signal(), record.oom_killed(), record.err()},
             absl::FromUnixNanos(record.completed_at_unix_nanos()));
      return;
    }
  }
  // The supervisor died without a record (killed, crashed). Its task is now an orphan that no
  // one would reap or report on: kill the group if its leader is provably still ours.
  std::string killed;
  if (IsSameProcess(ds.task().pid(), ds.task().start_time()) &&
      kill(-ds.task_pgid(), SIGKILL) == 0) {
    killed = absl::StrCat("; its process group ", ds.task_pgid(), " was killed");
  }
  std::string err = absl::StrCat("supervisor ", ds.supervisor().pid(), " of task ", id,
                                 " exited without recording the task's exit status (",
                                 read.message(), ")", killed);
  log::Error("tasks", "task supervisor lost", {{"task_id", id}, {"error", err}});
  Finish(id, ExitResult{-1, 0, false, err}, absl::Now());
}

void TaskRunner::Finish(const std::string& id, const ExitResult& result, absl::Time completed_at) {
  std::vector<std::pair<WaitHandle, WaitCallback>> waiters;
  std::vector<std::shared_ptr<StopWaiter>> stops;
  std::vector<TimerQueue::TimerId> timers;
  {
    carp_exec::MutexLock lock(mu_);
    Task* task = FindLocked(id);
    if (task == nullptr || task->exited) return;
    task->exited = true;
    task->result = result;
    task->completed_at = completed_at;
    waiters.swap(task->waiters);
    stops.swap(task->stops);
    for (const auto& waiter : waiters) wait_owner_.erase(waiter.first);
    for (const auto& stop : stops)
      timers.insert(timers.end(), {stop->kill_timer, stop->give_up_timer});
  }
  for (TimerQueue::TimerId timer : timers) {
    if (timer != 0) timers_->Cancel(timer);
  }
  log::Info("tasks", "task exited",
            {{"task_id", id},
             {"exit_code", absl::StrCat(result.exit_code)},
             {"signal", absl::StrCat(result.signal)}});
  for (auto& waiter : waiters) waiter.second(result);
  for (auto& stop : stops) stop->done(absl::OkStatus());
}

}  // namespace carp_exec::tasks
