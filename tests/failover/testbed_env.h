#pragma once
// What the C++ failover tests need from the shell test bed (tests/failover/testbed): its env file,
// bounded child processes, and the logs the test bed's pieces write (notify state log, the test
// HTTP server's event log, the probe's summary).
//
// All times here are wall-clock (CLOCK_REALTIME) because they are compared across processes:
// keepalived's notify hook, the Python server and probe, and this program.

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace carp_exec::failover_test {

// The variables of `$(testbed env)`: CX_NS_A, CX_TRACK_A, CX_STATE_LOG_B, CX_VIP, ...
class TestbedEnv {
 public:
  static absl::StatusOr<TestbedEnv> Load(const std::string& path);
  // The value of `key`; an error naming the file when it is missing.
  absl::StatusOr<std::string> Get(absl::string_view key) const;
  // Get() for keys the test bed always writes; aborts with a message if missing.
  std::string Must(absl::string_view key) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, std::string, std::less<>> vars_;
};

struct CommandResult {
  int exit_code = -1;  // -1: killed at the timeout or by a signal
  std::string output;  // stdout and stderr together (capped at 1 MiB)
};

// Runs argv (argv[0] looked up in PATH), waits at most `timeout`, then SIGKILLs it.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout);

// A long-running child (probe, ip monitor) whose stdout/stderr go to `log_path` (or /dev/null).
// The destructor SIGTERMs it, waits up to 2 s, then SIGKILLs and reaps it.
class ChildProcess {
 public:
  static absl::StatusOr<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                            const std::string& log_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Waits up to `timeout` for the child to exit; its exit code, or nullopt if still running.
  std::optional<int> Wait(absl::Duration timeout);
  void Terminate();  // SIGTERM, 2 s, SIGKILL, reaped.

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Absolute path of `name` found in PATH (or `name` itself if it already contains a '/').
std::optional<std::string> FindInPath(absl::string_view name);

// One line of the notify hook's event log: "<unix time> <state> <priority>".
struct StateChange {
  absl::Time when;
  std::string state;
};
std::vector<StateChange> ReadStateLog(const std::string& path);
// The first change to `state` at or after `after`.
std::optional<absl::Time> FirstState(const std::vector<StateChange>& log, absl::string_view state,
                                     absl::Time after);

// One event of the test HTTP server's JSONL log (tests/failover/http_server.py).
struct ServerEvent {
  absl::Time when;
  std::string event;  // listening, first_request, ping, signal, exit
  int64_t pid = 0;
};
std::vector<ServerEvent> ReadServerLog(const std::string& path);
std::optional<ServerEvent> FirstServerEvent(const std::vector<ServerEvent>& log,
                                            absl::string_view event);

// The probe's --summary JSON.
struct ProbeSummary {
  int64_t total = 0;
  int64_t failed = 0;
  double longest_gap = 0;
  bool longest_gap_open = false;
};
absl::StatusOr<ProbeSummary> ReadProbeSummary(const std::string& path);

// One line of the probe's --out JSONL: one request.
struct ProbeRequest {
  absl::Time start;        // "wall"
  absl::Duration latency;  // "latency"
  bool ok = false;         // "ok"
  std::string error;       // "error" ("" for null): "<exception class>: <text>"
};
// Every complete line of the probe's JSONL; an error when the file cannot be read or a line lacks
// wall, latency or ok.
absl::StatusOr<std::vector<ProbeRequest>> ReadProbeLog(const std::string& path);

// Reads a number, string or boolean field from one flat JSON object line (enough for our own
// logs). JsonString stops at the first quote, escaped or not (our values' prefixes never hold one).
std::optional<double> JsonNumber(absl::string_view line, absl::string_view key);
std::optional<std::string> JsonString(absl::string_view line, absl::string_view key);
std::optional<bool> JsonBool(absl::string_view line, absl::string_view key);

absl::Time FromUnixSeconds(double seconds);
// Seconds from `from` to `to` with millisecond text, for reports: "0.342 s".
std::string SecondsBetween(absl::Time from, absl::Time to);

}  // namespace carp_exec::failover_test
