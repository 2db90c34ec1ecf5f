#pragma once
// ExecTask (non-streaming): run a command in the task's context and capture its output.
// Nomad uses it for script checks and `change_mode = "script"`; the client reads only stdout
// and the exit code.
//
// Output decision: by default stderr is merged into stdout through ONE pipe (real interleaving
// order), like raw_exec, so an error message such as "No such file or directory" reaches the
// check output; only the last `max_output_bytes` are kept. The Driver service asks for raw_exec's
// 4 KiB; the default here is 64 KiB, far below gRPC's 4 MiB message limit. kSeparate captures both
// streams separately, each capped the same way.
//
// RunExec BLOCKS the calling thread until the command ended and its output was drained (or the
// timeout hit): call it from a worker thread, never from a gRPC callback thread.

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "driver/tasks/exec_command.h"

namespace carp_exec::tasks {

struct ExecRequest {
  ExecCommand command;  // stdin is /dev/null
  // At the deadline the command's whole process group gets SIGKILL. Zero, negative or infinite
  // ⇒ no deadline (Nomad always sends one for checks).
  absl::Duration timeout = absl::InfiniteDuration();
  enum class Output { kMergedIntoStdout, kSeparate };
  Output output = Output::kMergedIntoStdout;
  size_t max_output_bytes = size_t{64} * 1024;  // per captured stream; the tail is kept
  // After the main process exited, how long to keep reading output that background children
  // may still hold open. The main process's own output is always read completely.
  absl::Duration drain_after_exit = absl::Milliseconds(200);
};

struct ExecResult {
  std::string stdout_bytes;  // merged output in kMergedIntoStdout
  std::string stderr_bytes;  // always empty in kMergedIntoStdout
  int exit_code = 0;         // 128+N if killed by signal N (137 after a timeout)
  int signal = 0;
  bool timed_out = false;         // the deadline passed and the group was killed
  bool output_truncated = false;  // older output was dropped to respect max_output_bytes
};

// Runs `request.command` to completion. Errors: invalid request or the command could not be
// started (not found, chdir/setuid failure) — a command that ran and failed is a result with
// its exit code, not an error.
absl::StatusOr<ExecResult> RunExec(const ExecRequest& request);

}  // namespace carp_exec::tasks
