#pragma once
// Stands in for Nomad's logmon: owns one task output FIFO and copies what arrives into the
// log file logmon would write (`<alloc>/alloc/logs/<task>.stdout.0`) and into memory.
//
// The FIFO is created 0600 before the task starts, as the client's prestart hook does. The
// reader also holds a write end of its own, so the FIFO always has a writer and never reports
// end-of-file between tasks; a driver that opens it O_WRONLY|O_NONBLOCK succeeds at once
// because a reader exists.

#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace carp_exec::test_host {

class LogmonFifo {
 public:
  // Makes the FIFO at `fifo_path` and starts copying into `log_path`.
  static absl::StatusOr<std::unique_ptr<LogmonFifo>> Create(std::string fifo_path,
                                                            std::string log_path);
  ~LogmonFifo();  // Stops the reader and closes both ends; the files stay.
  LogmonFifo(const LogmonFifo&) = delete;
  LogmonFifo& operator=(const LogmonFifo&) = delete;

  const std::string& fifo_path() const { return fifo_path_; }
  const std::string& log_path() const { return log_path_; }

  // Everything read so far.
  std::string Contents() const;
  // Waits until the contents include `needle`; true if they do by the deadline.
  bool WaitFor(absl::string_view needle, absl::Time deadline) const;

 private:
  LogmonFifo(std::string fifo_path, std::string log_path, int read_fd, int keep_fd, int log_fd,
             int wake_read_fd, int wake_write_fd);
  void Run();

  const std::string fifo_path_;
  const std::string log_path_;
  int read_fd_;
  int keep_fd_;
  int log_fd_;
  int wake_read_fd_;
  int wake_write_fd_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::string contents_ ABSL_GUARDED_BY(mu_);
};

}  // namespace carp_exec::test_host
