#include "driver/tasks/state_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string_view>

#include "absl/cleanup/cleanup.h"
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

// A directory of ours: a real directory (not a symlink), owned by the plugin's effective user,
// writable by nobody else (issue 9: a 0777 state_dir let another user swap a task dir).
absl::Status CheckOwnedDirectory(const std::string& path, const struct stat& st, uid_t euid) {
  if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state_dir: \"", path, "\" is ", S_ISLNK(st.st_mode) ? "a symlink" : "not a directory",
        "; carp_exec keeps its records in plain directories: remove it (the plugin recreates "
        "it) and check who made it"));
  }
  if (st.st_uid != euid || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "state_dir: \"%s\" is mode %04o owned by uid %d; carp_exec runs as uid %d and needs it "
        "owned by uid %d and writable by no one else: chown %d '%s' && chmod go-w '%s'",
        path, st.st_mode & 07777, st.st_uid, euid, euid, euid, path, path));
  }
  return absl::OkStatus();
}

// An ancestor of state_dir: owned by root or by us, and if others may write it, sticky.
// One directory above a protected path: root's or ours and, if others may write it, sticky
// (others cannot then move what is ours out of it).
absl::Status CheckAncestorDir(const std::string& path, const struct stat& st, uid_t euid,
                              absl::string_view what, absl::string_view fix) {
  const bool owner_ok = st.st_uid == 0 || st.st_uid == euid;
  const bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  if (owner_ok && (!others_write || (st.st_mode & S_ISVTX) != 0)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrFormat(
      "%s: its parent directory %s (mode %04o, owner uid %d) lets another user replace what is "
      "under it; make it owned by root and not group/world-writable (chown 0 '%s' && chmod go-w "
      "'%s'), %s",
      what, path, st.st_mode & 07777, st.st_uid, path, path, fix));
}

// The prefixes of `path` from "/" down to its parent directory.
std::vector<std::string> Prefixes(const std::string& path) {
  std::vector<std::string> out = {"/"};
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    out.push_back(path.substr(0, pos));
  }
  return out;
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
  const std::string d(dir);
  const size_t slash = d.rfind('/');
  const std::string parent = slash == std::string::npos ? "." : d.substr(0, slash);
  const std::string name = slash == std::string::npos ? d : d.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("task state dir \"", dir, "\" does not name a directory entry"));
  }
  int parent_fd = open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (parent_fd < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus("task state dir: cannot open", parent, errno);
  }
  absl::Cleanup close_parent = [parent_fd] { close(parent_fd); };
  // O_NOFOLLOW: a task dir swapped for a symlink (issue 9, attack 4) is never entered; only
  // the link itself is removed.
  int dir_fd = openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    if (errno != ELOOP && errno != ENOTDIR) {
      return ErrnoStatus("task state dir: cannot open", dir, errno);
    }
    log::Warn("tasks", "task state dir is not a directory (a symlink?); removing only the entry",
              {{"dir", d}});
    if (unlinkat(parent_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoStatus("task state dir: cannot remove", dir, errno);
    }
    return absl::OkStatus();
  }
  DIR* handle = fdopendir(dir_fd);
  if (handle == nullptr) {
    close(dir_fd);
    return ErrnoStatus("task state dir: cannot list", dir, errno);
  }
  absl::Status result = absl::OkStatus();
  // unlinkat without AT_REMOVEDIR removes a symlink entry itself and refuses a directory, so
  // nothing outside this directory is ever deleted.
  while (struct dirent* entry = readdir(handle)) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    if (unlinkat(dirfd(handle), entry->d_name, 0) != 0 && errno != ENOENT && result.ok()) {
      result =
          ErrnoStatus("task state dir: cannot remove", absl::StrCat(d, "/", entry->d_name), errno);
    }
  }
  closedir(handle);
  if (unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT && result.ok()) {
    result = ErrnoStatus("task state dir: cannot remove", dir, errno);
  }
  return result;
}

absl::Status CheckAncestors(const std::string& path, uid_t euid, absl::string_view what,
                            absl::string_view fix) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": \"", path, "\" is not an absolute path; give the full path"));
  }
  // As written: a symlink on the way is re-pointable by its owner, so it must be root's or
  // ours; a directory follows the ancestor rule.
  for (const std::string& prefix : Prefixes(path)) {
    struct stat st;
    if (lstat(prefix.c_str(), &st) != 0)
      return ErrnoStatus(absl::StrCat(what, ": cannot stat"), prefix, errno);
    if (S_ISLNK(st.st_mode)) {
      if (st.st_uid != 0 && st.st_uid != euid) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "%s: \"%s\" on its path is a symlink owned by uid %d, who could re-point it; use a "
            "path without it, %s",
            what, prefix, st.st_uid, fix));
      }
      continue;
    }
    if (absl::Status s = CheckAncestorDir(prefix, st, euid, what, fix); !s.ok()) return s;
  }
  // As resolved: the directories the symlinks lead through.
  const size_t slash = path.rfind('/');
  const std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  char resolved[PATH_MAX];
  if (realpath(parent.c_str(), resolved) == nullptr) {
    return ErrnoStatus(absl::StrCat(what, ": cannot resolve"), parent, errno);
  }
  const std::string real = absl::StrCat(resolved, std::string_view(resolved) == "/" ? "" : "/",
                                        "x");  // Prefixes() of this end at `resolved`
  for (const std::string& prefix : Prefixes(real)) {
    struct stat st;
    if (stat(prefix.c_str(), &st) != 0)
      return ErrnoStatus(absl::StrCat(what, ": cannot stat"), prefix, errno);
    if (absl::Status s = CheckAncestorDir(prefix, st, euid, what, fix); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CheckStateDirOwnership(absl::string_view state_dir) {
  const std::string root(state_dir);
  const uid_t euid = geteuid();
  // The ancestors: only root or we may be able to rename entries in them (sticky dirs such as
  // /tmp are fine: others cannot move what is ours).
  if (absl::Status s = CheckAncestors(root, euid, "state_dir",
                                      "or choose a state_dir under a safe directory such as "
                                      "/var/lib");
      !s.ok()) {
    return s;
  }
  // state_dir itself is followed if it is a symlink (the operator named it); what is under it
  // is ours and must be a plain directory.
  struct stat st;
  if (stat(root.c_str(), &st) != 0) return ErrnoStatus("state_dir: cannot stat", root, errno);
  if (absl::Status s = CheckOwnedDirectory(root, st, euid); !s.ok()) return s;
  for (const char* sub : {"tasks", "failover"}) {
    const std::string path = absl::StrCat(root, "/", sub);
    if (lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;
      return ErrnoStatus("state_dir: cannot stat", path, errno);
    }
    if (absl::Status s = CheckOwnedDirectory(path, st, euid); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<PersistedTask> ScanStateDir(absl::string_view state_dir) {
  std::vector<PersistedTask> found;
  std::string root = TasksRoot(state_dir);
  DIR* handle = opendir(root.c_str());
  if (handle == nullptr) return found;
  std::vector<std::string> names;
  while (struct dirent* entry = readdir(handle)) {
    if (entry->d_name[0] == '.') continue;
    // Only plain directories of ours: a symlink planted here is never followed.
    struct stat st;
    if (fstatat(dirfd(handle), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISDIR(st.st_mode)) {
      log::Warn("tasks", "skipping a task state entry that is not a directory",
                {{"dir", root}, {"entry", entry->d_name}});
      continue;
    }
    names.emplace_back(entry->d_name);
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
