#pragma once
// The per-task supervisor: `carp_exec supervise <task-state-dir>`.
//
// The plugin writes <dir>/spec.pb (state.LaunchSpec), then starts the binary in this mode with
// fd 3 as the start-report pipe. The supervisor detaches (new session, forks once so the plugin
// does not have to reap it), listens on <dir>/sock, forks the task into its own process group,
// and reports the exec result (state.StartReport) on fd 3. It then serves a line protocol on the
// socket (supervisor_protocol.h) until the task's main process exits; it then SIGKILLs what is
// left of the task's process group (processes that left the group with setsid/setpgid are not
// ours to kill), writes <dir>/exit.pb atomically, closes every connection and exits.
//
// It ignores SIGINT, SIGHUP and SIGPIPE (it must not die with the agent's terminal), forwards
// SIGTERM to the task's group, starts no thread and no gRPC, and logs to <dir>/supervisor.log.

namespace carp_exec::tasks {

// `argv` is main's: argv[1] == "supervise", argv[2] == the task state directory.
// Returns the process exit status (0 after the task's exit was recorded).
int RunSupervisor(int argc, char** argv);

}  // namespace carp_exec::tasks
