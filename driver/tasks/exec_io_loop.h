#pragma once
// Internal to RunExec and ExecSession: one poll(2) loop that moves bytes between a child's
// fds and callbacks, notices the child's exit, enforces a deadline (SIGKILL to the process
// group) and decides when output is complete. Runs entirely on the calling thread; not
// thread-safe (commands are applied from the `on_wake` hook, on the same thread).

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace carp_exec::tasks {

class ChildIoLoop {
 public:
  struct Hooks {
    std::function<void(absl::string_view)> on_stdout;  // may be empty
    std::function<void(absl::string_view)> on_stderr;  // may be empty
    // The wake fd became readable (already drained): apply queued commands.
    std::function<void(ChildIoLoop&)> on_wake;
    // While true, output fds are not read (flow control).
    std::function<bool()> output_paused;
    // Called before each poll with the stdin bytes the loop still holds (they shrink as the
    // child reads, and drop to 0 when stdin goes away). May be empty.
    std::function<void(size_t pending)> on_stdin_pending;
  };

  struct Outcome {
    int wait_status = 0;  // from waitpid; meaningful when `error` is OK
    bool timed_out = false;
    absl::Status error;
  };

  // Takes ownership of out_fd, err_fd and in_fd (-1 = absent; all non-blocking). With a tty,
  // out_fd is the pty master and also receives stdin; in_fd and err_fd are -1. `wake_fd` is
  // borrowed.
  ChildIoLoop(pid_t pid, bool tty, int out_fd, int err_fd, int in_fd, int wake_fd);
  ~ChildIoLoop();

  ChildIoLoop(const ChildIoLoop&) = delete;
  ChildIoLoop& operator=(const ChildIoLoop&) = delete;

  // At `deadline` (a MonotonicNow() time) the process group gets SIGKILL and the outcome says
  // timed_out.
  void set_deadline(absl::Time deadline) { deadline_ = deadline; }
  // After the main process exited, how long to keep waiting for EOF on the outputs.
  void set_drain_after_exit(absl::Duration drain) { drain_after_exit_ = drain; }

  // Notice the exit by polling waitpid, as on systems without a pollable process handle
  // (lets Linux tests cover the OpenBSD/FreeBSD path).
  void set_poll_for_exit(bool poll_only) { poll_for_exit_only_ = poll_only; }

  // Commands (call from on_wake, or before Run).
  void QueueStdin(absl::string_view data);
  void CloseStdin();
  void Resize(uint16_t rows, uint16_t cols);
  void KillGroup();
  // Stop waiting for background children's output as soon as the main process is reaped.
  void StopWaitingAfterExit();

  // Stdin bytes queued and not yet written to the child.
  size_t stdin_pending_bytes() const { return stdin_pending_.size() - stdin_offset_; }

  // Runs until the main process was reaped and output is complete (or the drain window
  // closed). All owned fds are closed when it returns.
  Outcome Run(const Hooks& hooks);

 private:
  void ReapIfExited(absl::Time now);
  // Reads once from `*fd`; closes it on EOF/EIO. Returns bytes delivered.
  size_t ReadOnce(int* fd, const std::function<void(absl::string_view)>& sink);
  void WritePendingStdin();
  void CloseFd(int* fd);
  int stdin_target() const { return tty_ ? out_fd_ : in_fd_; }

  const pid_t pid_;
  const bool tty_;
  int out_fd_;
  int err_fd_;
  int in_fd_;
  const int wake_fd_;
  int pidfd_ = -1;

  absl::Time deadline_ = absl::InfiniteFuture();
  absl::Duration drain_after_exit_ = absl::InfiniteDuration();
  absl::Time drain_until_ = absl::InfiniteFuture();
  bool stop_after_exit_ = false;
  bool poll_for_exit_only_ = false;

  std::string stdin_pending_;
  size_t stdin_offset_ = 0;     // bytes at the front of stdin_pending_ already written
  bool stdin_closing_ = false;  // close after pending bytes are written (pipes)
  bool stdin_closed_ = false;   // no more input accepted
  int last_stdin_byte_ = -1;    // tty: decides how many EOF characters CloseStdin types

  bool exited_ = false;
  bool timed_out_ = false;
  int wait_status_ = 0;
  absl::Status error_;
};

}  // namespace carp_exec::tasks
