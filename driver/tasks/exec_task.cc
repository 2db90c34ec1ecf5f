#include "driver/tasks/exec_task.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "driver/tasks/exec_io_loop.h"
#include "driver/tasks/monotonic_time.h"

namespace carp_exec::tasks {
namespace {

// Keeps the last `cap` bytes appended (amortised: trims only when twice as large).
class OutputTail {
 public:
  explicit OutputTail(size_t cap) : cap_(cap) {}
  void Append(absl::string_view data) {
    text_.append(data.data(), data.size());
    if (text_.size() > 2 * cap_ + kReadSlack) Trim();
  }
  std::string Finish(bool* truncated) {
    Trim();
    if (dropped_) *truncated = true;
    return std::move(text_);
  }

 private:
  static constexpr size_t kReadSlack = size_t{64} * 1024;
  void Trim() {
    if (text_.size() <= cap_) return;
    text_.erase(0, text_.size() - cap_);
    dropped_ = true;
  }
  const size_t cap_;
  std::string text_;
  bool dropped_ = false;
};

struct Pipe {
  int read_end = -1;
  int write_end = -1;
};

absl::Status MakePipe(Pipe* pipe_fds) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("exec: cannot create a pipe: ", std::strerror(errno)));
  }
  pipe_fds->read_end = fds[0];
  pipe_fds->write_end = fds[1];
  fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
  return absl::OkStatus();
}

void CloseIfOpen(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

}  // namespace

absl::StatusOr<ExecResult> RunExec(const ExecRequest& request) {
  const bool merged = request.output == ExecRequest::Output::kMergedIntoStdout;
  Pipe out, err;
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("exec: cannot open /dev/null for stdin: ", std::strerror(errno)));
  }
  absl::Status status = MakePipe(&out);
  if (status.ok() && !merged) status = MakePipe(&err);
  absl::StatusOr<pid_t> pid = absl::UnknownError("exec: not started");
  if (status.ok()) {
    ChildStdio stdio{null_fd, out.write_end, merged ? out.write_end : err.write_end, -1};
    pid = SpawnInNewSession(request.command, stdio);
  } else {
    pid = status;
  }
  // Our copies of the child's ends must go, or EOF never comes.
  CloseIfOpen(&null_fd);
  CloseIfOpen(&out.write_end);
  CloseIfOpen(&err.write_end);
  if (!pid.ok()) {
    CloseIfOpen(&out.read_end);
    CloseIfOpen(&err.read_end);
    return pid.status();
  }

  ChildIoLoop loop(*pid, /*tty=*/false, out.read_end, err.read_end, /*in_fd=*/-1,
                   /*wake_fd=*/-1);
  const absl::Duration timeout = request.timeout;
  if (timeout > absl::ZeroDuration() && timeout != absl::InfiniteDuration()) {
    loop.set_deadline(MonotonicNow() + timeout);
  }
  loop.set_drain_after_exit(request.drain_after_exit);

  OutputTail stdout_tail(request.max_output_bytes);
  OutputTail stderr_tail(request.max_output_bytes);
  ChildIoLoop::Hooks hooks;
  hooks.on_stdout = [&stdout_tail](absl::string_view data) { stdout_tail.Append(data); };
  hooks.on_stderr = [&stderr_tail](absl::string_view data) { stderr_tail.Append(data); };
  const ChildIoLoop::Outcome outcome = loop.Run(hooks);
  if (!outcome.error.ok()) return outcome.error;

  ExecResult result;
  result.stdout_bytes = stdout_tail.Finish(&result.output_truncated);
  result.stderr_bytes = stderr_tail.Finish(&result.output_truncated);
  result.exit_code = NomadExitCode(outcome.wait_status);
  result.signal = TerminatingSignal(outcome.wait_status);
  result.timed_out = outcome.timed_out;
  return result;
}

}  // namespace carp_exec::tasks
