// TaskRunner: starting a task under a new supervisor, and adopting one from driver_state.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "driver/log/hclog.h"
#include "driver/mutex_lock.h"
#include "driver/tasks/boot_relative_time.h"
#include "driver/tasks/launch_resolution.h"
#include "driver/tasks/monotonic_time.h"
#include "driver/tasks/process_identity.h"
#include "driver/tasks/spawn_signals.h"
#include "driver/tasks/state_dir.h"
#include "driver/tasks/supervisor_protocol.h"
#include "driver/tasks/task_errors.h"
#include "driver/tasks/task_runner.h"
#include "driver/tasks/unreachable_task.h"

namespace carp_exec::tasks {
namespace {

constexpr uint32_t kDriverStateVersion = 1;

// The last lines of the supervisor's log, to explain a supervisor that died without a report.
std::string LogTail(const std::string& dir) {
  absl::StatusOr<std::string> log = ReadWholeFile(absl::StrCat(dir, "/", kSupervisorLog));
  if (!log.ok() || log->empty()) return "its log is empty";
  std::string tail = log->size() > 400 ? log->substr(log->size() - 400) : *log;
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  return absl::StrCat("its log ends with: ", tail);
}

absl::Status ErrorFromReport(const std::string& id, const state::StartReport& report) {
  std::string message = absl::StrCat("task \"", id, "\": ", report.error());
  int error_number = report.error_errno();
  bool output_stage = report.stage() == "open stdout" || report.stage() == "open stderr";
  if (output_stage && (error_number == ENXIO || error_number == ENOENT)) {
    return MarkRecoverable(absl::UnavailableError(message));  // logmon not ready yet
  }
  if (IsTransientErrno(error_number)) return MarkRecoverable(absl::UnavailableError(message));
  if (report.stage() == "exec" && error_number == ENOENT) return absl::NotFoundError(message);
  if (error_number == EACCES || error_number == EPERM) {
    return absl::PermissionDeniedError(message);
  }
  return absl::FailedPreconditionError(message);
}

// Reads the supervisor's report until EOF or the deadline.
absl::StatusOr<std::string> ReadReport(int fd, absl::Time deadline) {
  std::string data;
  char buf[4096];
  while (true) {
    int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - MonotonicNow()));
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 1 << 30)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return absl::DeadlineExceededError("no start report in time");
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return data;
    data.append(buf, static_cast<size_t>(n));
  }
}

// Starts `<supervisor> supervise <dir>` with the report pipe as fd 3; returns its pid.
absl::StatusOr<pid_t> SpawnSupervisor(const std::string& supervisor, const std::string& dir,
                                      int report_write) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  absl::Cleanup free_actions = [&actions] { posix_spawn_file_actions_destroy(&actions); };
  std::string log_path = absl::StrCat(dir, "/", kSupervisorLog);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  // The task's state dir was just made by us (mkdir 0700); O_NOFOLLOW all the same.
  posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
  posix_spawn_file_actions_adddup2(&actions, report_write, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  absl::Cleanup free_attr = [&attr] { posix_spawnattr_destroy(&attr); };
  // gRPC threads may block signals or install handlers; the supervisor starts from a clean slate.
  if (int rc = SetSpawnSignalDefaults(&attr); rc != 0) {
    return MarkRecoverable(absl::ResourceExhaustedError(
        absl::StrCat("cannot prepare the supervisor's spawn attributes: ", strerror(rc))));
  }
  std::string mode = "supervise";
  char* argv[] = {const_cast<char*>(supervisor.c_str()), mode.data(),
                  const_cast<char*>(dir.c_str()), nullptr};
  char* envp[] = {nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, supervisor.c_str(), &actions, &attr, argv, envp);
  if (rc != 0) {
    absl::Status status = absl::FailedPreconditionError(
        absl::StrCat("cannot start supervisor \"", supervisor, "\": ", strerror(rc)));
    return IsTransientErrno(rc) ? MarkRecoverable(status) : status;
  }
  return pid;
}

// A handle comes back from the agent's state; it is checked as if anyone could have written it
// (issue 9): signals go to its process group and files under its directory are read and
// removed as root. The directory must be the one this task id gets under our state_dir, and
// the process group the task's own (the supervisor makes the task a group leader), never 0,
// 1 or ours (kill(-pgid) would hit init's group or the plugin itself).
absl::Status CheckHandle(const std::string& id, const state::DriverState& ds,
                         const std::string& state_dir) {
  const std::string expected_dir = TaskStateDir(state_dir, id);
  if (ds.task_state_dir() != expected_dir) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task \"", id, "\": driver_state names the directory \"", ds.task_state_dir(),
        "\", but this task's is \"", expected_dir,
        "\" (state_dir changed, or the handle was altered); the task cannot be recovered"));
  }
  const int64_t pgid = ds.task_pgid();
  const int64_t pid = ds.task().pid();
  const int64_t supervisor = ds.supervisor().pid();
  std::string why;
  if (pgid <= 1) {
    why = absl::StrCat("process group ", pgid, " is not a task's");
  } else if (pgid == getpgrp() || pgid == getpid()) {
    why = absl::StrCat("process group ", pgid, " is the plugin's own");
  } else if (pid != pgid) {
    why = absl::StrCat("process group ", pgid, " is not led by the task (pid ", pid, ")");
  } else if (supervisor <= 1 || supervisor == getpid()) {
    why = absl::StrCat("supervisor pid ", supervisor, " is not a supervisor's");
  }
  if (!why.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("task \"", id, "\": driver_state is not trustworthy: ", why,
                     "; the task cannot be recovered (Nomad will start it again)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StartedTask> TaskRunner::Launch(const LaunchSpec& spec) {
  absl::StatusOr<state::LaunchSpec> resolved =
      ResolveLaunch(spec, options_.denied_uids, options_.denied_gids);
  if (!resolved.ok()) return resolved.status();
  std::string dir = TaskStateDir(options_.state_dir, spec.task_id);
  if (mkdir(dir.c_str(), 0700) != 0) {
    std::string why = errno == EEXIST ? "it already exists (left by an earlier plugin that did not "
                                        "recover this task)"
                                      : strerror(errno);
    absl::Status status = absl::FailedPreconditionError(
        absl::StrCat("task \"", spec.task_id, "\": cannot create state dir \"", dir, "\": ", why));
    return IsTransientErrno(errno) ? MarkRecoverable(status) : status;
  }
  absl::Cleanup remove_dir = [&dir] { (void)RemoveTaskDir(dir); };
  if (absl::Status written = WriteTaskFile(dir, kSpecFile, resolved->SerializeAsString());
      !written.ok()) {
    return MarkRecoverable(written);
  }

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    return MarkRecoverable(absl::ResourceExhaustedError(absl::StrCat("pipe: ", strerror(errno))));
  }
  // Keep the write end off fd 3: posix_spawn's dup2 onto the same number would leave it CLOEXEC.
  int report_write = fcntl(report[1], F_DUPFD_CLOEXEC, 10);
  close(report[1]);
  absl::Cleanup close_read = [fd = report[0]] { close(fd); };
  if (report_write < 0) {
    return MarkRecoverable(absl::ResourceExhaustedError(absl::StrCat("dup: ", strerror(errno))));
  }
  absl::StatusOr<pid_t> spawned = SpawnSupervisor(options_.supervisor_path, dir, report_write);
  close(report_write);
  if (!spawned.ok()) return spawned.status();
  // The spawned process only detaches and exits; the supervisor proper is its child.
  int ignored;
  while (waitpid(*spawned, &ignored, 0) < 0 && errno == EINTR) {
  }
  absl::StatusOr<std::string> data = ReadReport(report[0], MonotonicNow() + options_.start_timeout);
  state::StartReport report_message;
  if (!data.ok() || data->empty() || !report_message.ParseFromString(*data)) {
    return MarkRecoverable(absl::UnavailableError(absl::StrCat(
        "task \"", spec.task_id, "\": its supervisor did not report the start",
        data.ok() ? "" : absl::StrCat(" within ", absl::FormatDuration(options_.start_timeout)),
        "; ", LogTail(dir))));
  }
  if (!report_message.started()) return ErrorFromReport(spec.task_id, report_message);
  std::move(remove_dir).Cancel();

  const state::ProcessRecord& process = report_message.process();
  state::DriverState driver_state;
  driver_state.set_version(kDriverStateVersion);
  driver_state.set_task_id(spec.task_id);
  driver_state.set_task_state_dir(dir);
  *driver_state.mutable_supervisor() = process.supervisor();
  *driver_state.mutable_task() = process.task();
  driver_state.set_task_pgid(process.task_pgid());
  driver_state.set_started_at_unix_nanos(process.started_at_unix_nanos());
  driver_state.set_guarded(resolved->guarded());
  driver_state.set_ready(resolved->ready());
  *driver_state.mutable_spec() = *std::move(resolved);
  if (absl::Status adopted = Adopt(spec.task_id, driver_state); !adopted.ok()) {
    // exec succeeded, so the task ran; its supervisor vanished without a record. Report it as
    // a task that ended (Wait gives exit_code -1) rather than failing a start that happened.
    Publish(spec.task_id, driver_state, -1,
            std::make_pair(ExitResult{-1, 0, false, std::string(adopted.message())}, absl::Now()));
  }
  log::Info("tasks", "task started",
            {{"task_id", spec.task_id},
             {"pid", absl::StrCat(process.task().pid())},
             {"supervisor_pid", absl::StrCat(process.supervisor().pid())}});
  return StartedTask{process.task().pid(), absl::FromUnixNanos(process.started_at_unix_nanos()),
                     driver_state.SerializeAsString()};
}

absl::Status TaskRunner::Recover(absl::string_view task_id, absl::string_view driver_state) {
  state::DriverState ds;
  if (!ds.ParseFromArray(driver_state.data(), static_cast<int>(driver_state.size())) ||
      ds.version() == 0 || ds.task_state_dir().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("task \"", task_id, "\": driver_state is not a carp_exec task handle (",
                     driver_state.size(), " bytes); the task cannot be recovered"));
  }
  std::string id = task_id.empty() ? ds.task_id() : std::string(task_id);
  if (id != ds.task_id()) {
    return absl::InvalidArgumentError(
        absl::StrCat("task \"", id, "\": driver_state belongs to task \"", ds.task_id(), "\""));
  }
  if (absl::Status trusted = CheckHandle(id, ds, options_.state_dir); !trusted.ok()) {
    log::Warn("tasks", "task handle refused", {{"task_id", id}, {"error", trusted.message()}});
    return trusted;
  }
  {
    carp_exec::MutexLock lock(mu_);
    if (tasks_.contains(id)) return absl::OkStatus();
    auto task = std::make_unique<Task>();
    task->id = id;
    tasks_.emplace(id, std::move(task));
  }
  absl::Status adopted = Adopt(id, ds);
  if (!adopted.ok()) {
    Unreserve(id);
    log::Warn("tasks", "task cannot be recovered", {{"task_id", id}, {"error", adopted.message()}});
  }
  return adopted;
}

namespace {

// The handle comes from Nomad's state, the record from our own root-only task dir: processes
// are signalled only when both name the same supervisor, task and group.
bool HandleMatchesRecord(const state::DriverState& ds) {
  state::ProcessRecord record;
  if (!ReadMessage(absl::StrCat(ds.task_state_dir(), "/", kPidFile), &record).ok()) return false;
  return record.supervisor().pid() == ds.supervisor().pid() &&
         SameStartTime(record.supervisor().start_time(), ds.supervisor().start_time()) &&
         record.task().pid() == ds.task().pid() &&
         SameStartTime(record.task().start_time(), ds.task().start_time()) &&
         record.task_pgid() == ds.task_pgid();
}

}  // namespace

absl::Status TaskRunner::Adopt(const std::string& id, const state::DriverState& ds) {
  // Nomad never retries a failed RecoverTask: it force-destroys the task (NotFound for us) and
  // later starts a new one (client/allocrunner/taskrunner/task_runner.go, restoreHandle). So a
  // supervisor that lives but does not answer gets a bounded wait here, and is then ended.
  const absl::Time give_up = MonotonicNow() + options_.recover_patience;
  absl::Duration pause = absl::Milliseconds(50);
  while (true) {
    absl::StatusOr<bool> attached = AttachOnce(id, ds);
    if (!attached.ok()) return attached.status();
    if (*attached) return absl::OkStatus();
    if (!IsLiveProcess(ds.supervisor().pid(), ds.supervisor().start_time())) break;
    if (MonotonicNow() >= give_up) {
      if (!HandleMatchesRecord(ds)) {
        return absl::FailedPreconditionError(
            absl::StrCat("task ", id, " cannot be recovered: supervisor ", ds.supervisor().pid(),
                         " did not answer, and the handle does not match the task's record in ",
                         ds.task_state_dir(), "; nothing was signalled"));
      }
      return absl::FailedPreconditionError(
          absl::StrCat("task ", id, " cannot be recovered: supervisor ", ds.supervisor().pid(),
                       " is alive but did not answer on ", ds.task_state_dir(), "/", kSocketFile,
                       " for ", absl::FormatDuration(options_.recover_patience), "; ",
                       KillUnreachableTask(ds.supervisor(), ds.task(), ds.task_pgid())));
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Seconds(1));
  }
  // Nomad will start the task again; an orphan of the lost supervisor must not run twice.
  std::string killed;
  if (HandleMatchesRecord(ds) && IsSameProcess(ds.task().pid(), ds.task().start_time()) &&
      kill(-ds.task_pgid(), SIGKILL) == 0) {
    killed = absl::StrCat("; its orphaned process group ", ds.task_pgid(), " was killed");
  }
  return absl::FailedPreconditionError(
      absl::StrCat("task ", id, " cannot be recovered: supervisor ", ds.supervisor().pid(),
                   " is gone and no exit status was recorded", killed));
}

absl::StatusOr<bool> TaskRunner::AttachOnce(const std::string& id, const state::DriverState& ds) {
  const std::string& dir = ds.task_state_dir();
  std::string exit_path = absl::StrCat(dir, "/", kExitFile);
  // Checked before and after the connect: the supervisor may finish in between.
  for (int attempt = 0; attempt < 2; ++attempt) {
    state::ExitRecord record;
    absl::Status read = ReadMessage(exit_path, &record);
    if (read.ok()) {
      ExitResult result{record.exit_code(), record.signal(), record.oom_killed(), record.err()};
      Publish(id, ds, -1,
              std::make_pair(result, absl::FromUnixNanos(record.completed_at_unix_nanos())));
      return true;
    }
    if (!absl::IsNotFound(read)) return read;
    if (attempt == 1) break;
    absl::StatusOr<int> fd = ConnectSupervisor(absl::StrCat(dir, "/", kSocketFile));
    if (fd.ok()) {
      Publish(id, ds, *fd, std::nullopt);
      return true;
    }
    // Nobody listens, or the connect failed on our side (EMFILE, a full backlog): either way
    // the caller waits and tries again while the supervisor lives.
  }
  return false;
}

void TaskRunner::Publish(const std::string& id, const state::DriverState& driver_state,
                         int watch_fd, std::optional<std::pair<ExitResult, absl::Time>> exit) {
  {
    carp_exec::MutexLock lock(mu_);
    auto it = tasks_.find(id);
    if (it == tasks_.end()) {
      if (watch_fd >= 0) close(watch_fd);
      return;
    }
    Task& task = *it->second;
    task.dir = driver_state.task_state_dir();
    task.driver_state = driver_state;
    task.starting = false;
    if (exit.has_value()) {
      task.exited = true;
      task.result = exit->first;
      task.completed_at = exit->second;
    } else {
      task.watch_fd = watch_fd;
      task_by_fd_[watch_fd] = id;
    }
  }
  Wake();
}

}  // namespace carp_exec::tasks
