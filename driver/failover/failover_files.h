#pragma once
// <state_dir>/failover/: every file's path, format and parsing, in one place for the plugin
// (the coordinator) and the operator commands (status, check, check --live).
//
//   lock        held (flock LOCK_EX) by whoever may write the ledger or the hand-overs: the
//               plugin for its whole life, or a check --live for its cycle. Its text names the
//               holder ("pid 1234 carp_exec plugin"), for the refusal message.
//   ledger      the demotion ledger (demotion_ledger.h: format, parser, crash rules)
//   handovers   ids of guarded tasks whose hand-over began, one per line, so a relaunched
//               plugin keeps the node demoted under a half-stopped task
//   check-live  a check --live cycle in progress or interrupted (operator/live_marker.h)
//
// Files near state_dir are attacker-controlled input: the lock file is opened with O_NOFOLLOW
// and must be a regular file owned by us; a handovers line that is not a plausible task id is
// an error naming the line, not a task.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace carp_exec::failover {

std::string FailoverDirPath(absl::string_view state_dir);  // <state_dir>/failover
std::string LockPath(absl::string_view state_dir);
std::string LedgerPath(absl::string_view state_dir);
std::string HandoversPath(absl::string_view state_dir);
std::string CheckLivePath(absl::string_view state_dir);

// The handovers file. Parse errors are DataLoss naming the line and the fix.
std::string FormatHandovers(const std::vector<std::string>& task_ids);
absl::StatusOr<std::vector<std::string>> ParseHandovers(absl::string_view text);
// Missing file = none in progress.
absl::StatusOr<std::vector<std::string>> ReadHandovers(absl::string_view state_dir);
// Crash-safe (temp file, fsync, rename). Creates <state_dir>/failover if needed.
absl::Status WriteHandovers(absl::string_view state_dir, const std::vector<std::string>& ids);

// The exclusive right to write the ledger and the hand-overs. Held until destroyed (or the
// process dies: the kernel drops an flock with its last descriptor, so a SIGKILL leaves no
// stale lock).
class FailoverLock {
 public:
  // Creates <state_dir>/failover if needed, opens (creating) the lock file and takes the lock
  // without waiting. `holder` ("carp_exec plugin", "carp_exec check --live") is written into
  // the file with our pid. FailedPrecondition when someone else holds it: the message names
  // the path, the holder the file names, and what to do. Other errors name the path and call.
  static absl::StatusOr<std::unique_ptr<FailoverLock>> Acquire(absl::string_view state_dir,
                                                               absl::string_view holder);
  ~FailoverLock();
  FailoverLock(const FailoverLock&) = delete;
  FailoverLock& operator=(const FailoverLock&) = delete;

 private:
  explicit FailoverLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace carp_exec::failover
