#pragma once
// Turns a StartTask's LaunchSpec into what execve needs, in the plugin (name service lookups and
// PATH search stay out of the supervisor): the absolute command path, the user's credentials,
// the final environment.

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "carp_exec/driver_state.pb.h"
#include "driver/tasks/id_ranges.h"
#include "driver/tasks/task_types.h"

namespace carp_exec::tasks {

// Finds `command` like raw_exec's lookupBin: an absolute path as is (stat only); a relative
// name in <task_dir>/local/, then <task_dir>/; a bare name then in each directory of `path_env`
// (the task's PATH; relative and empty entries are relative to the task dir). A relative name
// is resolved with StatBeneath (path_beneath.h) and may never leave the task dir: `..` above
// it, an absolute symlink or one leading out is PermissionDenied naming the command and the
// fix. The file's mode is never changed: found without an x bit is PermissionDenied ("no
// execute permission"); nothing found is NotFound ("no such command", listing where it looked).
absl::StatusOr<std::string> ResolveCommand(absl::string_view command, absl::string_view task_dir,
                                           absl::string_view path_env);

// Looks `user` up (name or numeric uid) and refuses it if its uid or primary gid is denied, or
// if it is in more groups than setgroups accepts here (CheckGroupCount).
// Unknown ⇒ NotFound containing "unknown user".
absl::StatusOr<state::Credentials> ResolveUser(absl::string_view user, const IdRanges& denied_uids,
                                               const IdRanges& denied_gids);

// The kernel refuses setgroups(2) with more groups than NGROUPS_MAX (OpenBSD: 16,
// sys/sys/syslimits.h and sys/kern/kern_prot.c; Linux: 65536), which would only surface as a
// failed exec in the task's supervisor. FailedPrecondition naming the user, `count` (its
// groups, the primary one included) and `limit`, with the fix, when count > limit.
absl::Status CheckGroupCount(absl::string_view user, size_t count, long limit);

// This system's NGROUPS_MAX: sysconf(_SC_NGROUPS_MAX), or the compiled-in constant.
long SupplementaryGroupLimit();

// Builds the supervisor's state.LaunchSpec: checks the user and groups against the deny lists
// before anything touches the filesystem, then resolves command, user (empty ⇒ none, but the
// plugin's own uid/gid are still checked against the deny lists) and work dir, and sets
// USER/LOGNAME/HOME in the environment when a user is given. Validates required fields.
absl::StatusOr<state::LaunchSpec> ResolveLaunch(const LaunchSpec& spec, const IdRanges& denied_uids,
                                                const IdRanges& denied_gids);

}  // namespace carp_exec::tasks
