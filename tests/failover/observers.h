#pragma once
// Independent witnesses for the failover end-to-end test: they watch the node from outside the
// plugin, so the test can check the plugin's order of actions against what really happened.
//
// AddressMonitor runs `ip -o -ts monitor address` (TZ=UTC) inside namespace NS: the kernel's own
// record of every address added or deleted there, each line stamped by ip as it read the netlink
// notification (iproute2 lib/utils.c print_timestamp), the same witness of VIP moves as the test
// bed's addr.log (vip_moves.py). A line without a readable stamp gets the time it reached us.
// FileWatcher polls a small file (the keepalived track file carp_exec writes) every few
// milliseconds and records each new content. Both stop and reap/join in their destructors.

#include <sys/types.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace carp_exec::failover_test {

class AddressMonitor {
 public:
  // Starts `ip netns exec <ns> ip -o -ts monitor address`. `ip` is the absolute path of ip.
  static absl::StatusOr<std::unique_ptr<AddressMonitor>> Start(const std::string& ip,
                                                               const std::string& ns);
  ~AddressMonitor();
  AddressMonitor(const AddressMonitor&) = delete;
  AddressMonitor& operator=(const AddressMonitor&) = delete;

  // When `address` (e.g. "10.231.0.10") was first added (or deleted) at or after `after`.
  std::optional<absl::Time> Added(const std::string& address, absl::Time after) const;
  std::optional<absl::Time> Deleted(const std::string& address, absl::Time after) const;
  // Waits (bounded) until Added/Deleted returns a time.
  std::optional<absl::Time> WaitAdded(const std::string& address, absl::Time after,
                                      absl::Duration timeout) const;
  std::optional<absl::Time> WaitDeleted(const std::string& address, absl::Time after,
                                        absl::Duration timeout) const;

 private:
  struct Line {
    absl::Time when;
    std::string text;
  };
  AddressMonitor(pid_t pid, int fd);
  void Run();
  std::optional<absl::Time> Find(const std::string& address, bool deleted, absl::Time after) const;

  pid_t pid_;
  int fd_;
  int wake_fds_[2] = {-1, -1};
  mutable absl::Mutex mu_;
  std::vector<Line> lines_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// The time in front of one `ip -o -ts monitor` line ("[2026-12-02T05:57:09.613828] 2: eth0 ..."),
// read as UTC; nullopt when the line does not start with one.
std::optional<absl::Time> MonitorLineTime(absl::string_view line);

class FileWatcher {
 public:
  FileWatcher(std::string path, absl::Duration interval);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  struct Change {
    absl::Time when;      // when the poll saw it (at most `interval` late)
    std::string content;  // trimmed
  };
  std::vector<Change> Changes() const;
  // The content seen by the last poll ("" before the first).
  std::string Current() const;
  // The first change at or after `after` to a content satisfying `want` (nullopt: none yet).
  std::optional<absl::Time> FirstMatching(absl::Time after,
                                          bool (*want)(const std::string& content)) const;
  // Waits (bounded) for FirstMatching.
  std::optional<absl::Time> WaitMatching(absl::Time after, bool (*want)(const std::string&),
                                         absl::Duration timeout) const;

 private:
  void Run();

  const std::string path_;
  const absl::Duration interval_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Change> changes_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// Predicates for FileWatcher on a keepalived track file.
bool IsZero(const std::string& content);
bool IsNonZero(const std::string& content);

}  // namespace carp_exec::failover_test
