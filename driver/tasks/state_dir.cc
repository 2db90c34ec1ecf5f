#include "driver/tasks/state_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "carp_exec/driver_state.pb.h"
#include "driver/log/hclog.h"
#include "driver/tasks/atomic_file.h"
#include "driver/tasks/supervisor_protocol.h"

namespace carp_exec::tasks {
namespace {

// OpenBSD's sockaddr_un.sun_path is the smallest of our platforms (104 bytes with the NUL).
constexpr size_t kPortableSunPath = 104;

absl::Status ErrnoStatus(absl::string_view what, absl::string_view path, int error_number) {
  std::string message = absl::StrCat(what, " \"", path, "\": ", strerror(error_number));
  if (error_number == ENOENT) return absl::NotFoundError(message);
  if (error_number == EACCES || error_number == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

// Exited when exit.pb is there, running when the supervisor's socket answers, else lost.
PersistedTask::Liveness ProbeLiveness(const std::string& task_state_dir) {
  const std::string exit_path = absl::StrCat(task_state_dir, "/", kExitFile);
  struct stat st;
  if (stat(exit_path.c_str(), &st) == 0) return PersistedTask::Liveness::kExited;
  absl::StatusOr<int> fd = ConnectSupervisor(absl::StrCat(task_state_dir, "/", kSocketFile));
  if (fd.ok()) {
    close(*fd);
    return PersistedTask::Liveness::kRunning;
  }
  // exit.pb is checked again after a failed connect: the supervisor may have finished between.
  return stat(exit_path.c_str(), &st) == 0 ? PersistedTask::Liveness::kExited
                                           : PersistedTask::Liveness::kLost;
}

}  // namespace

std::string TaskDirName(absl::string_view task_id) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a 64 offset basis
  for (unsigned char c : task_id) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return absl::StrFormat("%016x", hash);
}

std::string TasksRoot(absl::string_view state_dir) { return absl::StrCat(state_dir, "/tasks"); }

std::string TaskStateDir(absl::string_view state_dir, absl::string_view task_id) {
  return absl::StrCat(state_dir, "/tasks/", TaskDirName(task_id));
}

absl::Status CheckSocketPathFits(absl::string_view state_dir) {
  std::string longest = absl::StrCat(TaskStateDir(state_dir, ""), "/", kSocketFile);
  size_t limit = std::min(kPortableSunPath, sizeof(sockaddr_un{}.sun_path)) - 1;
  if (longest.size() > limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state_dir \"", state_dir, "\" is too long: supervisor sockets would be \"", longest,
        "\" (", longest.size(), " bytes), over the ", limit,
        "-byte unix socket path limit (OpenBSD); choose a state_dir of at most ",
        limit - (longest.size() - state_dir.size()), " bytes, e.g. /var/db/carp_exec"));
  }
  return absl::OkStatus();
}

absl::Status WriteTaskFile(absl::string_view dir, absl::string_view name, absl::string_view data) {
  return WriteFileAtomically(absl::StrCat(dir, "/", name), data, 0600);
}

absl::StatusOr<std::string> ReadWholeFile(absl::string_view path) {
  absl::StatusOr<std::optional<std::string>> data = ReadFileIfExists(std::string(path));
  if (!data.ok()) return data.status();
  if (!data->has_value()) {
    return absl::NotFoundError(absl::StrCat("state file \"", path, "\" does not exist"));
  }
  return **std::move(data);
}

absl::Status ReadMessage(absl::string_view path, google::protobuf::MessageLite* message) {
  absl::StatusOr<std::string> data = ReadWholeFile(path);
  if (!data.ok()) return data.status();
  if (!message->ParseFromString(*data)) {
    return absl::DataLossError(absl::StrCat("state file \"", path, "\" is corrupt (not a ",
                                            message->GetTypeName(),
                                            "); remove the task directory"));
  }
  return absl::OkStatus();
}

absl::Status RemoveTaskDir(absl::string_view dir) {
  std::string d(dir);
  DIR* handle = opendir(d.c_str());
  if (handle == nullptr) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus("task state dir: cannot open", dir, errno);
  }
  absl::Status result = absl::OkStatus();
  while (struct dirent* entry = readdir(handle)) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    if (unlinkat(dirfd(handle), entry->d_name, 0) != 0 && errno != ENOENT && result.ok()) {
      result =
          ErrnoStatus("task state dir: cannot remove", absl::StrCat(d, "/", entry->d_name), errno);
    }
  }
  closedir(handle);
  if (rmdir(d.c_str()) != 0 && errno != ENOENT && result.ok()) {
    result = ErrnoStatus("task state dir: cannot remove", dir, errno);
  }
  return result;
}

std::vector<PersistedTask> ScanStateDir(absl::string_view state_dir) {
  std::vector<PersistedTask> found;
  std::string root = TasksRoot(state_dir);
  DIR* handle = opendir(root.c_str());
  if (handle == nullptr) return found;
  std::vector<std::string> names;
  while (struct dirent* entry = readdir(handle)) {
    if (entry->d_name[0] != '.') names.emplace_back(entry->d_name);
  }
  closedir(handle);
  for (const std::string& name : names) {
    PersistedTask task;
    task.state_dir = absl::StrCat(root, "/", name);
    state::LaunchSpec spec;
    absl::Status read = ReadMessage(absl::StrCat(task.state_dir, "/", kSpecFile), &spec);
    if (!read.ok()) {
      log::Warn("tasks", "skipping unreadable task state directory",
                {{"dir", task.state_dir}, {"error", read.message()}});
      continue;
    }
    task.task_id = spec.task_id();
    task.guarded = spec.guarded();
    task.ready = spec.ready();
    task.liveness = ProbeLiveness(task.state_dir);
    found.push_back(std::move(task));
  }
  return found;
}

}  // namespace carp_exec::tasks
