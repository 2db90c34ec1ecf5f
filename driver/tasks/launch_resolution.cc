#include "driver/tasks/launch_resolution.h"

#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "driver/tasks/path_beneath.h"
#include "driver/tasks/task_errors.h"

namespace carp_exec::tasks {
namespace {

// PATH when the task's environment has none; the usual system directories.
constexpr char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Where a candidate for the command lives: a host path the job spelled out (stat as is, like
// raw_exec), or a name beneath the task dir (never allowed to leave it).
struct Candidate {
  std::string host_path;  // set for host candidates
  std::string relative;   // set for task-dir candidates
};

// The file a candidate names, or NotFound / the reason it may not be used.
absl::StatusOr<BeneathEntry> Probe(const Candidate& candidate, absl::string_view task_dir,
                                   absl::string_view command) {
  const std::string what = absl::StrCat("task config: command \"", command, "\"");
  if (candidate.host_path.empty()) return StatBeneath(task_dir, candidate.relative, what);
  BeneathEntry entry;
  entry.path = candidate.host_path;
  if (stat(entry.path.c_str(), &entry.st) != 0) {
    return absl::NotFoundError(absl::StrCat(what, ": \"", entry.path, "\" does not exist"));
  }
  return entry;
}

absl::Status DeniedError(absl::string_view user, absl::string_view kind, uint32_t id,
                         const IdRanges& ranges, absl::string_view option) {
  return absl::PermissionDeniedError(absl::StrCat(
      "user \"", user, "\" has ", kind, " ", id, ", denied by ", option, " \"", ranges.ToString(),
      "\"; run the task as another user or change the ", option, " plugin option"));
}

absl::Status CheckIds(absl::string_view user, uint32_t uid, const std::vector<uint32_t>& gids,
                      const IdRanges& denied_uids, const IdRanges& denied_gids) {
  if (denied_uids.Contains(uid))
    return DeniedError(user, "uid", uid, denied_uids, "denied_host_uids");
  for (uint32_t gid : gids) {
    if (denied_gids.Contains(gid))
      return DeniedError(user, "gid", gid, denied_gids, "denied_host_gids");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ResolveCommand(absl::string_view command, absl::string_view task_dir,
                                           absl::string_view path_env) {
  if (command.empty()) {
    return absl::InvalidArgumentError(
        "task config: \"command\" is empty; set it to an absolute path or a program name");
  }
  if (absl::StrContains(command, '\0')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task config: command \"", absl::CHexEscape(command), "\" contains a NUL byte; remove it"));
  }
  // The order of raw_exec's lookupBin (hashicorp/nomad drivers/shared/executor/executor.go):
  // task/local/, task/, an absolute host path, then PATH. Unlike it, a relative name never
  // leaves the task dir and an absolute one is not first looked for under task/local/.
  std::vector<Candidate> candidates;
  if (command[0] == '/') {
    candidates.push_back({std::string(command), ""});
  } else {
    if (!task_dir.empty()) {
      candidates.push_back({"", absl::StrCat("local/", command)});
      candidates.push_back({"", std::string(command)});
    }
    if (!absl::StrContains(command, '/')) {
      if (path_env.empty()) path_env = kDefaultPath;
      for (absl::string_view dir : absl::StrSplit(path_env, ':')) {
        if (!dir.empty() && dir[0] == '/') {
          candidates.push_back({absl::StrCat(dir, "/", command), ""});
        } else if (!task_dir.empty() && !dir.empty() && dir != ".") {
          // A relative PATH entry is relative to the task's directory, never the plugin's
          // (an empty entry or "." is the task dir itself, looked at above).
          candidates.push_back({"", absl::StrCat(dir, "/", command)});
        }
      }
    }
  }
  std::string not_executable;
  mode_t not_executable_mode = 0;
  std::vector<std::string> places;
  for (const Candidate& candidate : candidates) {
    absl::StatusOr<BeneathEntry> entry = Probe(candidate, task_dir, command);
    places.push_back(candidate.host_path.empty() ? absl::StrCat(task_dir, "/", candidate.relative)
                                                 : candidate.host_path);
    if (absl::IsNotFound(entry.status())) continue;
    if (!entry.ok()) return entry.status();  // left the task dir, a loop, ...: a job error
    if (!S_ISREG(entry->st.st_mode)) continue;
    if ((entry->st.st_mode & 0111) != 0) return entry->path;
    if (not_executable.empty()) {
      not_executable = entry->path;
      not_executable_mode = entry->st.st_mode & 07777;
    }
  }
  if (!not_executable.empty()) {
    // Never chmod (raw_exec does): the file may be anyone's, and root changing modes on a
    // job's say-so was issue 9's first attack.
    return absl::PermissionDeniedError(absl::StrCat(
        "task config: command \"", command, "\" found at \"", not_executable,
        "\" but it has no execute permission (mode ", absl::StrFormat("%04o", not_executable_mode),
        "); carp_exec never changes file modes: ship the artifact with its x bit (chmod +x before "
        "packing), or run it through an interpreter (command = \"/bin/sh\", args = [\"",
        command, "\"])"));
  }
  return absl::NotFoundError(absl::StrCat("task config: no such command \"", command,
                                          "\" (looked at ", absl::StrJoin(places, ", "),
                                          "); use an absolute path or fix the task's PATH"));
}

absl::Status CheckGroupCount(absl::string_view user, size_t count, long limit) {
  if (limit <= 0 || count <= static_cast<size_t>(limit)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "task config: user \"", user, "\" is in ", count,
      " groups (its primary group included) but this system lets a process have at most ", limit,
      " (NGROUPS_MAX); remove the user from some groups in the group database or run the task "
      "as another user"));
}

long SupplementaryGroupLimit() {
  const long limit = sysconf(_SC_NGROUPS_MAX);
  return limit > 0 ? limit : NGROUPS_MAX;
}

absl::StatusOr<state::Credentials> ResolveUser(absl::string_view user, const IdRanges& denied_uids,
                                               const IdRanges& denied_gids) {
  std::string name(user);
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  struct passwd pw;
  struct passwd* found = nullptr;
  int rc;
  uint32_t numeric = 0;
  while (true) {
    if (absl::SimpleAtoi(name, &numeric)) {
      rc = getpwuid_r(static_cast<uid_t>(numeric), &pw, buf.data(), buf.size(), &found);
    } else {
      rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
    }
    if (rc != ERANGE || buf.size() > (1u << 20)) break;
    buf.resize(buf.size() * 2);
  }
  if (found == nullptr) {
    std::string why = rc == 0 ? "not in the user database" : strerror(rc);
    absl::Status status = absl::NotFoundError(absl::StrCat(
        "task config: unknown user \"", name, "\" (", why, "); create it or fix the task's user"));
    return (rc != 0 && IsTransientErrno(rc)) ? MarkRecoverable(status) : status;
  }
  state::Credentials credentials;
  credentials.set_name(pw.pw_name);
  credentials.set_uid(pw.pw_uid);
  credentials.set_gid(pw.pw_gid);
  std::vector<gid_t> groups(64);
  int count = static_cast<int>(groups.size());
  while (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0 && groups.size() < 65536) {
    groups.resize(std::max<size_t>(groups.size() * 2, static_cast<size_t>(count)));
    count = static_cast<int>(groups.size());
  }
  count = std::min(count, static_cast<int>(groups.size()));
  if (absl::Status fits =
          CheckGroupCount(name, static_cast<size_t>(std::max(count, 0)), SupplementaryGroupLimit());
      !fits.ok()) {
    return fits;
  }
  std::vector<uint32_t> gids{pw.pw_gid};
  for (int i = 0; i < count; ++i) {
    credentials.add_groups(groups[i]);
    gids.push_back(groups[i]);
  }
  absl::Status allowed = CheckIds(name, pw.pw_uid, gids, denied_uids, denied_gids);
  if (!allowed.ok()) return allowed;
  credentials.set_home(pw.pw_dir != nullptr && pw.pw_dir[0] != '\0' ? pw.pw_dir : "/");
  return credentials;
}

absl::StatusOr<state::LaunchSpec> ResolveLaunch(const LaunchSpec& spec, const IdRanges& denied_uids,
                                                const IdRanges& denied_gids) {
  if (spec.task_id.empty()) {
    return absl::InvalidArgumentError("task: the task id is empty; Nomad always sets one");
  }
  if (spec.work_dir.empty() && spec.task_dir.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task ", spec.task_id, ": neither work_dir nor the task dir is set; set work_dir"));
  }
  if (!spec.work_dir.empty() && spec.work_dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("task config: work_dir \"", spec.work_dir, "\" must be an absolute path"));
  }
  state::LaunchSpec out;
  // Users and groups first: a job refused by denied_host_uids must not make the plugin touch
  // the filesystem at all (issue 9: the lookup ran before the check).
  std::map<std::string, std::string> env = spec.env;
  if (!spec.user.empty()) {
    absl::StatusOr<state::Credentials> credentials =
        ResolveUser(spec.user, denied_uids, denied_gids);
    if (!credentials.ok()) return credentials.status();
    env["USER"] = credentials->name();
    env["LOGNAME"] = credentials->name();
    env["HOME"] = credentials->home();
    *out.mutable_credentials() = *std::move(credentials);
  } else {
    // The task runs as the plugin's user; the deny lists apply to it as well.
    std::vector<uint32_t> gids{static_cast<uint32_t>(getgid())};
    absl::Status allowed =
        CheckIds(absl::StrCat("uid ", getuid(), " (the plugin's own user)"),
                 static_cast<uint32_t>(getuid()), gids, denied_uids, denied_gids);
    if (!allowed.ok()) return allowed;
  }
  auto path_env = spec.env.find("PATH");
  absl::StatusOr<std::string> command =
      ResolveCommand(spec.command, spec.task_dir,
                     path_env == spec.env.end() ? absl::string_view() : path_env->second);
  if (!command.ok()) return command.status();
  out.set_command(*command);
  out.set_task_id(spec.task_id);
  out.set_alloc_id(spec.alloc_id);
  out.set_task_name(spec.task_name);
  for (const std::string& arg : spec.args) {
    if (absl::StrContains(arg, '\0')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "task config: an argument contains a NUL byte, which no process can receive: \"",
          absl::CHexEscape(arg), "\"; remove it"));
    }
    out.add_args(arg);
  }
  for (const auto& [name, value] : env) {
    if (name.empty() || absl::StrContains(name, '=') || absl::StrContains(name, '\0') ||
        absl::StrContains(value, '\0')) {
      return absl::InvalidArgumentError(
          absl::StrCat("task env: variable \"", name,
                       "\" cannot be passed to a process (empty name, '=' or "
                       "NUL in it); rename it"));
    }
    state::EnvVar* var = out.add_env();
    var->set_name(name);
    var->set_value(value);
  }
  out.set_work_dir(spec.work_dir.empty() ? spec.task_dir : spec.work_dir);
  out.set_stdout_path(spec.stdout_path.empty() ? "/dev/null" : spec.stdout_path);
  out.set_stderr_path(spec.stderr_path.empty() ? "/dev/null" : spec.stderr_path);
  out.set_task_dir(spec.task_dir);
  out.set_alloc_dir(spec.alloc_dir);
  out.set_guarded(spec.guarded);
  out.set_ready(spec.ready);
  out.set_oom_score_adj(spec.oom_score_adj);
  out.set_netns_path(spec.netns_path);
  return out;
}

}  // namespace carp_exec::tasks
