#pragma once
// Collects a child's stdout and stderr from pipes on one background thread.
//
// stdout is kept as raw bytes (bounded); the go-plugin handshake is its first line. stderr is
// split into lines, as the Nomad agent does before it parses each one as an hclog entry.
// Readers never block forever: every wait takes a deadline, and Stop() ends the thread even
// while some grandchild still holds a write end of a pipe open.

#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace carp_exec::test_host {

class ProcessOutput {
 public:
  // Takes ownership of the read ends of the child's stdout and stderr pipes.
  ProcessOutput(int stdout_fd, int stderr_fd);
  ~ProcessOutput();  // Stops the thread and closes the fds.
  ProcessOutput(const ProcessOutput&) = delete;
  ProcessOutput& operator=(const ProcessOutput&) = delete;

  // Waits for the first '\n'-terminated stdout line and returns it without the newline.
  // Errors: stdout closed first (the plugin exited or refused), more than `limit` bytes with
  // no newline, or the deadline passed. The message quotes what stdout held.
  absl::StatusOr<std::string> WaitForFirstLine(absl::Time deadline, size_t limit) const;

  // Waits until both pipes reached end-of-file (every writer closed them). False on deadline.
  bool WaitForEof(absl::Time deadline) const;

  // Everything read from stdout so far (capped at 1 MiB; later bytes are counted, not kept).
  std::string StdoutBytes() const;
  size_t StdoutByteCount() const;

  // Complete stderr lines so far, without newlines; a final unterminated line is included
  // once stderr reached end-of-file.
  std::vector<std::string> StderrLines() const;

  // Waits until some stderr line satisfies `match`; returns it, or nullopt at the deadline.
  std::optional<std::string> WaitForStderrLine(std::function<bool(absl::string_view)> match,
                                               absl::Time deadline) const;

  // Ends the reader thread now; later reads return what was collected.
  void Stop();

 private:
  void Run();
  void Append(bool is_stdout, const char* data, size_t size);

  int stdout_fd_;
  int stderr_fd_;
  int wake_read_fd_ = -1;
  int wake_write_fd_ = -1;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::string stdout_ ABSL_GUARDED_BY(mu_);
  size_t stdout_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool stdout_eof_ ABSL_GUARDED_BY(mu_) = false;
  std::string stderr_partial_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> stderr_lines_ ABSL_GUARDED_BY(mu_);
  bool stderr_eof_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace carp_exec::test_host
