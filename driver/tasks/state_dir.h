#pragma once
// The on-disk layout of task state, shared by the plugin and the supervisor:
//   <state_dir>/tasks/<16 hex>/   one directory per task, 0700; the name is a stable hash of the
//                                 task id (Nomad ids contain '/', and unix socket paths are short)
//     spec.pb          state.LaunchSpec, written by the plugin before the supervisor starts
//     pid.pb           state.ProcessRecord, written by the supervisor once the task runs
//     exit.pb          state.ExitRecord, written atomically by the supervisor after the exit
//     sock             the supervisor's unix socket (removed once exit.pb is written)
//     supervisor.log   the supervisor's stderr

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "driver/tasks/task_types.h"

namespace google::protobuf {
class MessageLite;
}

namespace carp_exec::tasks {

inline constexpr char kSpecFile[] = "spec.pb";
inline constexpr char kPidFile[] = "pid.pb";
inline constexpr char kExitFile[] = "exit.pb";
inline constexpr char kSocketFile[] = "sock";
inline constexpr char kSupervisorLog[] = "supervisor.log";

// 16 lowercase hex digits of a 64-bit FNV-1a hash of `task_id`; stable across processes,
// builds and platforms.
std::string TaskDirName(absl::string_view task_id);

// <state_dir>/tasks
std::string TasksRoot(absl::string_view state_dir);
// <state_dir>/tasks/<TaskDirName(task_id)>
std::string TaskStateDir(absl::string_view state_dir, absl::string_view task_id);

// The longest state_dir whose socket paths fit sockaddr_un on every platform we build for
// (OpenBSD: 104 bytes with the terminating NUL). InvalidArgument names the path and the limit.
absl::Status CheckSocketPathFits(absl::string_view state_dir);

// Writes `data` to <dir>/<name> so that a crash leaves the old file or the new one, never a
// mix (WriteFileAtomically of atomic_file.h). Mode 0600.
absl::Status WriteTaskFile(absl::string_view dir, absl::string_view name, absl::string_view data);

// NotFound if the file does not exist.
absl::StatusOr<std::string> ReadWholeFile(absl::string_view path);
absl::Status ReadMessage(absl::string_view path, google::protobuf::MessageLite* message);

// Removes every entry of `dir` (files only; the layout has no subdirectories) and `dir` itself,
// through directory fds: `dir` is opened with O_NOFOLLOW (a symlink there is removed as an entry,
// never entered) and entries are unlinked, never followed. A missing dir is OK.
absl::Status RemoveTaskDir(absl::string_view dir);

// Refuses a path another user could swap out from under the plugin: every directory above
// `path` (absolute), as written and as resolved, must be owned by root or `euid` and, if
// group/world-writable, sticky; a symlink on the way, as written, must be root's or `euid`'s
// (its owner can re-point it). Errors start with `what` ("state_dir", "failover: track_file
// /run/x/t") and end with `fix` (what else the operator can do).
absl::Status CheckAncestors(const std::string& path, uid_t euid, absl::string_view what,
                            absl::string_view fix);

// Refuses a state_dir another user could tamper with (checked when the config is activated):
// state_dir (followed if a symlink) and, where they exist, tasks/ and failover/ (which must be
// real directories) must be owned by the plugin's effective uid and not group/world-writable;
// every ancestor must be owned by root or that uid and, if group/world-writable, sticky.
// FailedPrecondition names the path, its mode and owner, and the chown/chmod that fixes it.
absl::Status CheckStateDirOwnership(absl::string_view state_dir);

// What is in <state_dir>/tasks now: each task's id, guarded flag, ready bytes and whether its
// supervisor answers, recorded an exit, or is lost. Unreadable entries and entries that are not
// plain directories (symlinks) are skipped (logged).
std::vector<PersistedTask> ScanStateDir(absl::string_view state_dir);

}  // namespace carp_exec::tasks
