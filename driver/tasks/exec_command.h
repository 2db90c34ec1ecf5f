#pragma once
// Starting a command "inside" a running task for ExecTask and ExecTaskStreaming: the task's
// environment, work dir and user, in a new session (so its whole process group can be killed
// and a pty can become its controlling terminal).
//
// Everything that allocates (PATH lookup, argv/envp arrays) happens before fork(); the child
// only makes async-signal-safe calls, because the plugin is multithreaded. A failure in the
// child before exec (chdir, setuid, execve) is reported back through a close-on-exec pipe and
// becomes an error of the spawn, not an exit code.
//
// The caller must reap only its own children (waitpid(pid)); a waitpid(-1) or SIGCHLD = SIG_IGN
// anywhere in the plugin would steal these exit statuses.

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace carp_exec::tasks {

// Who the command runs as; names are resolved by the caller, so no NSS lookup happens here.
struct ExecIdentity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (set only when the plugin runs as root)
};

struct ExecCommand {
  // argv[0] is an absolute path, a relative one (contains '/'; looked up beneath work_dir and
  // refused if it leads out of it), or a name looked up in the PATH of `env` (default PATH if
  // `env` has none); empty and relative PATH entries are beneath work_dir, never the plugin's
  // cwd, and skipped when work_dir is empty. Nothing is ever chmod'ed.
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // the complete environment (the task's)
  std::string work_dir;  // entered after the user switch; empty ⇒ the plugin's own cwd
  // nullopt ⇒ the plugin's own user. A different user needs the plugin to run as root.
  std::optional<ExecIdentity> user;
  // Linux: the task's group network namespace, joined before privileges are dropped (see
  // network_namespace.h). Empty ⇒ the plugin's network.
  std::string netns_path;
};

// Exit status from waitpid → Nomad's exit code: exited(n) ⇒ n, killed by signal N ⇒ 128+N.
int NomadExitCode(int wait_status);
// Signal number that ended the process, 0 if it exited normally.
int TerminatingSignal(int wait_status);

// Standard streams the child gets. All three must be valid fds; `controlling_tty` ≥ 0 makes
// that (slave) fd the session's controlling terminal. The caller keeps ownership.
struct ChildStdio {
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  int controlling_tty = -1;
};

// Forks and execs `command` as leader of a new session (pid == pgid == sid) with signal mask
// and dispositions reset and every other fd closed. Returns the pid once exec succeeded.
// Errors name the command and the step that failed (command not found, chdir, setuid, ...).
absl::StatusOr<pid_t> SpawnInNewSession(const ExecCommand& command, const ChildStdio& stdio);

}  // namespace carp_exec::tasks
