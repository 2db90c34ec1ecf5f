#pragma once
// What scale_bench needs around the plugin: resource limits for a thousand tasks, the processes
// the plugin started (found in /proc, since supervisors detach from the plugin), a reaper for
// the orphans a subreaper inherits, and one thread that drains every task's log FIFO.
// Linux only (/proc); elsewhere the scans find nothing.

#include <sys/types.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace carp_exec::bench {

// Raises RLIMIT_NOFILE (soft, and hard when allowed) to at least `wanted_fds`, and describes
// what it found and did, including RLIMIT_NPROC, pid_max and threads-max against
// `wanted_processes`. Children inherit the limits, so call it before starting the plugin.
std::string RaiseLimits(long wanted_fds, long wanted_processes);

// One process of the swarm: a supervisor (`<exe> supervise <state_dir>/tasks/<hash>`) or a task
// (a child of a supervisor).
struct SwarmProcess {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;
};
struct Swarm {
  std::vector<SwarmProcess> supervisors;
  std::vector<SwarmProcess> tasks;
};
// One pass over /proc; zombies are skipped.
Swarm FindSwarm(const std::string& state_dir);

// Processes whose environment holds `name=value` (the bench marks every task's environment).
std::vector<pid_t> ProcessesWithEnvEntry(const std::string& name, const std::string& value);

// SIGKILLs every supervisor and task of `state_dir`, every task group, and every process
// carrying the env marker. Returns how many processes it signalled.
int KillSwarm(const std::string& state_dir, const std::string& marker_name,
              const std::string& marker_value);

// Entries of a directory (without . and ..), -1 if it cannot be read.
int CountDirectoryEntries(const std::string& path);

// The highest thread count of `pid` seen since the last TakePeak(), polled every 50 ms.
class PeakThreads {
 public:
  explicit PeakThreads(pid_t pid);
  ~PeakThreads();
  PeakThreads(const PeakThreads&) = delete;
  PeakThreads& operator=(const PeakThreads&) = delete;
  long TakePeak() { return peak_.exchange(0); }

 private:
  void Run();
  const pid_t pid_;
  std::atomic<bool> stop_{false};
  std::atomic<long> peak_{0};
  std::thread thread_;
};

// utime + stime of `pid` (from /proc/<pid>/stat), or a negative duration if unknown.
absl::Duration ProcessCpuTime(pid_t pid);
// Open file descriptors of `pid`, -1 if unknown.
int CountFds(pid_t pid);

// Reaps exited children other than `keep` (the plugin, whose status PluginProcess collects),
// every 100 ms, until destroyed. A subreaper must do this, as init would.
class OrphanReaper {
 public:
  explicit OrphanReaper(pid_t keep);
  ~OrphanReaper();
  OrphanReaper(const OrphanReaper&) = delete;
  OrphanReaper& operator=(const OrphanReaper&) = delete;
  long reaped() const { return reaped_.load(); }

 private:
  void Run();
  const pid_t keep_;
  std::atomic<bool> stop_{false};
  std::atomic<long> reaped_{0};
  std::thread thread_;
};

// Creates the logmon FIFOs of tasks (0600) and drains them all on one thread, like logmon
// would but without a file per task. Each FIFO also has a write end held here, so it never
// reports end-of-file and a task's non-blocking open always finds a reader.
class FifoDrain {
 public:
  FifoDrain();
  ~FifoDrain();
  FifoDrain(const FifoDrain&) = delete;
  FifoDrain& operator=(const FifoDrain&) = delete;

  absl::Status Add(const std::string& fifo_path);
  long bytes() const { return bytes_.load(); }
  int fifos() const { return fifos_.load(); }

 private:
  void Run();
#if defined(__linux__)
  // The drain is epoll-based; elsewhere Add() says to use --logs-disabled (a kqueue version
  // for the BSDs is not written).
  int epoll_fd_;
  int wake_fd_;
#endif
  std::vector<int> fds_;  // read and write ends; closed in the destructor
  std::atomic<long> bytes_{0};
  std::atomic<int> fifos_{0};
  std::thread thread_;
};

}  // namespace carp_exec::bench
