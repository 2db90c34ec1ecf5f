#pragma once
// <state_dir>/failover/check-live: the record of a `carp_exec check --live` cycle in progress.
//
// check --live writes it (pid, start time) before it demotes and removes it after the restore
// is recorded in the ledger, and holds an flock(2) on it meanwhile. So:
//   - file present and locked: a check --live is running now (another one is refused);
//   - file present, not locked: a check --live was interrupted (killed, crashed, or its restore
//     failed); the share the ledger shows is that run's, and the next check --live restores it
//     after reconciling the ledger (the plugin reconciles the ledger itself at its next start).
// The plugin never reads this file. The lock dies with the process, so a SIGKILL cannot leave a
// stale lock behind.

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace carp_exec::operator_cli {

// <state_dir>/failover/check-live
std::string LiveMarkerPath(absl::string_view state_dir);

struct LiveMarker {
  int pid = 0;
  absl::Time started = absl::InfinitePast();
};

std::string FormatLiveMarker(const LiveMarker& marker);
// Lenient: missing lines leave defaults (a torn write still reads as "interrupted").
LiveMarker ParseLiveMarker(absl::string_view text);

// What status sees, without changing anything.
struct LiveMarkerView {
  LiveMarker marker;
  bool running = false;  // a process holds the lock now
};
// nullopt when there is no marker file. Errors name the path.
absl::StatusOr<std::optional<LiveMarkerView>> ReadLiveMarker(absl::string_view state_dir);

// The lock check --live holds for its whole cycle.
class LiveMarkerLock {
 public:
  // Opens (creating) the marker and locks it without waiting. FailedPrecondition names the pid
  // of the check --live that holds it. <state_dir>/failover must exist.
  static absl::StatusOr<std::unique_ptr<LiveMarkerLock>> Acquire(absl::string_view state_dir);
  ~LiveMarkerLock();  // closes (unlocks) without removing the file
  LiveMarkerLock(const LiveMarkerLock&) = delete;
  LiveMarkerLock& operator=(const LiveMarkerLock&) = delete;

  // The record an interrupted earlier run left, if any.
  const std::optional<LiveMarker>& interrupted() const { return interrupted_; }
  // Writes our record durably (before the demotion).
  absl::Status Record(const LiveMarker& marker);
  // Removes the file (after the restore was recorded).
  absl::Status Remove();

 private:
  LiveMarkerLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
  std::optional<LiveMarker> interrupted_;
};

}  // namespace carp_exec::operator_cli
