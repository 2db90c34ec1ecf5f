#pragma once
// ExecTaskStreaming (`nomad alloc exec`): an interactive command in the task's context, with
// or without a pseudo-terminal, whose input and output travel as messages.
//
// Threading: each session runs ONE poll-loop thread of its own (exec sessions are rare and
// interactive, so a shared poller is not worth its complexity). Every callback is invoked on
// that thread, one at a time, never while a lock of this class is held; callbacks should only
// queue work (e.g. a gRPC write) and return. The public methods are thread-safe and never
// block on the child: they queue a command and wake the loop, which applies commands in the
// order they were made (so Resize followed by WriteStdin reaches the child in that order).
//
// Stream semantics, matching what Nomad's client expects:
// * Without a tty: stdin, stdout and stderr are three pipes. on_exit comes once the main
//   process exited AND both output pipes reached EOF (background children that keep a pipe
//   open keep the session open, as in raw_exec), bounded by `pipe_drain_after_exit`.
// * With a tty: the child is session leader with the pty slave as controlling terminal on fds
//   0-2; all output arrives through on_stdout (with the terminal's "\r\n" line endings). When
//   the main process exits, the kernel hangs up the terminal, so background children no longer
//   hold the stream; output is read until the master reports EOF/EIO, at most
//   `tty_drain_after_exit` after the exit, then the master is closed and on_exit follows.
// * Exit code: the main process's status; killed by signal N ⇒ 128+N.
//
// Input flow control: stdin bytes not yet taken by the child are bounded. WriteStdin returns
// false once kStdinPendingCap bytes are pending; the caller then stops reading its source (the
// exec stream stops issuing gRPC reads, so HTTP/2 flow control holds the client back) until
// on_stdin_ready. A client pushing into a command that never reads stdin thus costs at most
// kStdinPendingCap plus one message, never its whole upload.
//
// Mapping Nomad's messages (for the service adapter): `stdin.data` ⇒ WriteStdin,
// `stdin.close` ⇒ CloseStdin, `tty_size` ⇒ Resize (or initial_size if it came before Start),
// empty messages are heartbeats. The end of the client's request stream is NOT a stdin close
// (Nomad's own executor ignores it; with a tty it would type ^D). on_exit ⇒ send
// `{stdout.close}`, `{stderr.close}` (tty: stdout only), then `{exited, result.exit_code}`.
// Client cancelled ⇒ destroy the session (kills a still-running command).

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "driver/tasks/exec_command.h"

namespace carp_exec::tasks {

struct TerminalSize {
  uint16_t rows = 0;  // Nomad's TerminalSize.height
  uint16_t cols = 0;  // Nomad's TerminalSize.width
};

struct ExecSessionOptions {
  ExecCommand command;
  bool tty = false;
  // The pty's size before the child starts (tty only); nullopt leaves the kernel default 0×0
  // until the first Resize.
  std::optional<TerminalSize> initial_size;
  absl::Duration tty_drain_after_exit = absl::Milliseconds(500);
  absl::Duration pipe_drain_after_exit = absl::InfiniteDuration();
};

struct ExecExit {
  int exit_code = 0;  // 128+N when killed by signal N; -1 when `error` is set
  int signal = 0;
  absl::Status error;  // the session failed (e.g. the exit status could not be collected)
};

struct ExecSessionCallbacks {
  std::function<void(absl::string_view data)> on_stdout;  // tty: all output
  std::function<void(absl::string_view data)> on_stderr;  // never called with a tty
  // Called once after each WriteStdin that returned false, when pending input fell to half
  // the cap, or was dropped (stdin closed, child gone, session finished). May run on the
  // loop thread before WriteStdin's caller saw the false: the caller must be done with the
  // data it passed before calling WriteStdin.
  std::function<void()> on_stdin_ready;
  // Called exactly once, after the last on_stdout/on_stderr. The session's fds are closed by
  // then. The callback may destroy the session (the destructor then does not join).
  std::function<void(const ExecExit& exit)> on_exit;
};

class ExecSession {
 public:
  // Spawns the command (synchronously: fork + exec, fast) and starts the loop thread.
  // Errors: empty argv, command not found, chdir/setuid failure, no pty available.
  static absl::StatusOr<std::unique_ptr<ExecSession>> Start(ExecSessionOptions options,
                                                            ExecSessionCallbacks callbacks);

  // If the main process still runs, kills its process group (SIGKILL), then waits for the
  // loop thread (so on_exit has run when it returns, unless called from a callback). Does not
  // kill background children of a main process that already exited.
  ~ExecSession();

  ExecSession(const ExecSession&) = delete;
  ExecSession& operator=(const ExecSession&) = delete;

  // Stdin bytes the session holds for a child that is not reading (pipe or pty full) before
  // WriteStdin asks its caller to wait. 128 KiB is two Linux pipe buffers: enough that a
  // reading child never waits on the client's next message, small enough that a flood into
  // `sleep` leaves the plugin's memory flat.
  static constexpr size_t kStdinPendingCap = size_t{128} * 1024;

  // Queues bytes for the child's stdin (tty: typed into the terminal). Dropped once stdin was
  // closed or the child is gone. Returns true while more input may follow at once; false
  // when kStdinPendingCap bytes are pending (this call's bytes are kept): write nothing more
  // until on_stdin_ready.
  bool WriteStdin(absl::string_view data);

  // End of input. Without a tty the stdin pipe is closed once queued data was written. With a
  // tty there is no pipe to close, so we type the terminal's EOF character (VEOF, normally
  // ^D) the way a user would: once at the start of a line, twice after a partial line (the
  // first ^D only pushes the pending line). Programs that put the terminal in raw mode just
  // receive the byte.
  void CloseStdin();

  // Sets the terminal size (TIOCSWINSZ; the foreground group gets SIGWINCH).
  // FailedPrecondition without a tty.
  absl::Status Resize(TerminalSize size);

  // Stops (true) or resumes (false) reading output, for flow control while the consumer's
  // send queue is full. The child then blocks on its next write once the kernel buffer fills.
  void SetOutputPaused(bool paused);

  // Kills the process group with SIGKILL if the main process still runs (client went away).
  // on_exit still follows.
  void Terminate();

  pid_t pid() const { return pid_; }
  bool tty() const { return tty_; }

 private:
  struct Command {
    enum class Kind { kStdin, kCloseStdin, kResize, kTerminate, kShutdown };
    Kind kind;
    std::string data;
    TerminalSize size;
  };

  ExecSession(pid_t pid, bool tty, int wake_read, int wake_write);
  void Enqueue(Command command);
  void Wake();  // makes the loop's poll return
  // The loop's own pending stdin is now `in_loop` bytes, after taking `taken` queued bytes.
  // Returns true when a blocked writer must be told (on_stdin_ready).
  bool NoteStdinPending(size_t taken, size_t in_loop);
  void RunLoop(int out_fd, int err_fd, int in_fd, const ExecSessionOptions& options,
               ExecSessionCallbacks callbacks);

  const pid_t pid_;
  const bool tty_;
  const int wake_read_;
  const int wake_write_;

  mutable absl::Mutex mu_;
  std::deque<Command> commands_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // the loop reaped the main process
  // Stdin bytes queued as commands, and held by the loop; their sum is what WriteStdin caps.
  size_t stdin_queued_ ABSL_GUARDED_BY(mu_) = 0;
  size_t stdin_in_loop_ ABSL_GUARDED_BY(mu_) = 0;
  bool stdin_blocked_ ABSL_GUARDED_BY(mu_) = false;  // WriteStdin returned false, no ready yet

  std::thread thread_;
};

}  // namespace carp_exec::tasks
