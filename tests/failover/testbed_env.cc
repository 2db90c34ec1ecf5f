#include "tests/failover/testbed_env.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace carp_exec::failover_test {
namespace {

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Reaps `pid` if it exited; returns its exit code (-1 for a signal) or nullopt while running.
std::optional<int> TryReap(pid_t pid, bool block) {
  int status = 0;
  pid_t got = waitpid(pid, &status, block ? 0 : WNOHANG);
  if (got != pid) return std::nullopt;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::optional<int> WaitBounded(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (std::optional<int> code = TryReap(pid, false)) return code;
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

}  // namespace

absl::StatusOr<TestbedEnv> TestbedEnv::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("test bed env file \"", path,
                                            "\" cannot be read; run tests/failover/testbed up "
                                            "and pass --env \"$(tests/failover/testbed env)\""));
  }
  TestbedEnv env;
  env.path_ = path;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    env.vars_[kv.first] = kv.second;
  }
  return env;
}

absl::StatusOr<std::string> TestbedEnv::Get(absl::string_view key) const {
  auto it = vars_.find(key);
  if (it == vars_.end()) {
    return absl::NotFoundError(absl::StrCat("test bed env file \"", path_, "\" has no ",
                                            std::string(key), "; recreate it with testbed up"));
  }
  return it->second;
}

std::string TestbedEnv::Must(absl::string_view key) const {
  absl::StatusOr<std::string> value = Get(key);
  if (!value.ok()) {
    std::fprintf(stderr, "failover_e2e: %s\n", value.status().ToString().c_str());
    std::abort();
  }
  return *value;
}

std::optional<std::string> FindInPath(absl::string_view name) {
  if (name.find('/') != absl::string_view::npos) return std::string(name);
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  std::vector<std::string> args = argv;
  std::vector<char*> argp = Pointers(args);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0].c_str(), &actions, nullptr, argp.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return absl::InternalError(absl::StrCat("cannot run \"", argv[0], "\": ", strerror(rc)));
  }
  CommandResult result;
  const absl::Time deadline = absl::Now() + timeout;
  bool eof = false;
  while (!eof && absl::Now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now())) + 1;
    if (poll(&p, 1, ms) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) {
      eof = true;
    } else if (result.output.size() < (1u << 20)) {
      result.output.append(buf, static_cast<size_t>(n));
    }
  }
  close(fds[0]);
  std::optional<int> code =
      WaitBounded(pid, std::max(absl::ZeroDuration(), deadline - absl::Now()));
  if (!code) {
    kill(pid, SIGKILL);
    TryReap(pid, true);
    result.exit_code = -1;
    result.output += absl::StrCat("\n[killed after ", absl::FormatDuration(timeout), "]");
    return result;
  }
  result.exit_code = *code;
  return result;
}

absl::StatusOr<ChildProcess> ChildProcess::Spawn(const std::vector<std::string>& argv,
                                                 const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  const char* out = log_path.empty() ? "/dev/null" : log_path.c_str();
  posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<std::string> args = argv;
  std::vector<char*> argp = Pointers(args);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0].c_str(), &actions, nullptr, argp.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("cannot run \"", argv[0], "\": ", strerror(rc)));
  }
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exit_code_(other.exit_code_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Terminate();
    pid_ = std::exchange(other.pid_, -1);
    exit_code_ = other.exit_code_;
  }
  return *this;
}

ChildProcess::~ChildProcess() { Terminate(); }

std::optional<int> ChildProcess::Wait(absl::Duration timeout) {
  if (pid_ < 0) return exit_code_;
  exit_code_ = WaitBounded(pid_, timeout);
  if (exit_code_) pid_ = -1;
  return exit_code_;
}

void ChildProcess::Terminate() {
  if (pid_ < 0) return;
  kill(pid_, SIGTERM);
  if (!Wait(absl::Seconds(2))) {
    kill(pid_, SIGKILL);
    TryReap(pid_, true);
    pid_ = -1;
  }
}

std::optional<double> JsonNumber(absl::string_view line, absl::string_view key) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  size_t at = line.find(needle);
  if (at == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(line.substr(at + needle.size()));
  size_t end = rest.find_first_of(",}");
  double value = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(rest.substr(0, end)), &value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> JsonString(absl::string_view line, absl::string_view key) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  size_t at = line.find(needle);
  if (at == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(line.substr(at + needle.size()));
  if (rest.empty() || rest[0] != '"') return std::nullopt;
  size_t end = rest.find('"', 1);  // our values never contain quotes
  if (end == absl::string_view::npos) return std::nullopt;
  return std::string(rest.substr(1, end - 1));
}

std::optional<bool> JsonBool(absl::string_view line, absl::string_view key) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  size_t at = line.find(needle);
  if (at == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(line.substr(at + needle.size()));
  if (absl::StartsWith(rest, "true")) return true;
  if (absl::StartsWith(rest, "false")) return false;
  return std::nullopt;
}

absl::Time FromUnixSeconds(double seconds) {
  return absl::FromUnixNanos(static_cast<int64_t>(std::llround(seconds * 1e9)));
}

std::string SecondsBetween(absl::Time from, absl::Time to) {
  return absl::StrFormat("%.3f s", absl::ToDoubleSeconds(to - from));
}

std::vector<StateChange> ReadStateLog(const std::string& path) {
  std::vector<StateChange> out;
  for (const std::string& line : ReadLines(path)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    double seconds = 0;
    if (fields.size() < 2 || !absl::SimpleAtod(fields[0], &seconds)) continue;
    out.push_back({FromUnixSeconds(seconds), fields[1]});
  }
  return out;
}

std::optional<absl::Time> FirstState(const std::vector<StateChange>& log, absl::string_view state,
                                     absl::Time after) {
  for (const StateChange& change : log) {
    if (change.state == state && change.when >= after) return change.when;
  }
  return std::nullopt;
}

std::vector<ServerEvent> ReadServerLog(const std::string& path) {
  std::vector<ServerEvent> out;
  for (const std::string& line : ReadLines(path)) {
    std::optional<double> wall = JsonNumber(line, "wall");
    std::optional<std::string> event = JsonString(line, "event");
    if (!wall || !event) continue;
    out.push_back({FromUnixSeconds(*wall), *event,
                   static_cast<int64_t>(JsonNumber(line, "pid").value_or(0))});
  }
  return out;
}

std::optional<ServerEvent> FirstServerEvent(const std::vector<ServerEvent>& log,
                                            absl::string_view event) {
  for (const ServerEvent& e : log) {
    if (e.event == event) return e;
  }
  return std::nullopt;
}

absl::StatusOr<ProbeSummary> ReadProbeSummary(const std::string& path) {
  std::vector<std::string> lines = ReadLines(path);
  if (lines.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "probe summary \"", path, "\" is missing or empty; see the probe's log beside it"));
  }
  const std::string& s = lines[0];
  std::optional<double> total = JsonNumber(s, "total");
  std::optional<double> failed = JsonNumber(s, "failed");
  std::optional<double> gap = JsonNumber(s, "longest_gap");
  if (!total || !failed || !gap) {
    return absl::DataLossError(absl::StrCat("probe summary \"", path,
                                            "\" lacks total/failed/"
                                            "longest_gap: ",
                                            s));
  }
  ProbeSummary summary;
  summary.total = static_cast<int64_t>(*total);
  summary.failed = static_cast<int64_t>(*failed);
  summary.longest_gap = *gap;
  summary.longest_gap_open = s.find("\"longest_gap_open\": true") != std::string::npos;
  return summary;
}

absl::StatusOr<std::vector<ProbeRequest>> ReadProbeLog(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("probe log \"", path, "\" cannot be read; see the probe's log beside it"));
  }
  std::vector<ProbeRequest> out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    std::optional<double> wall = JsonNumber(line, "wall");
    std::optional<double> latency = JsonNumber(line, "latency");
    std::optional<bool> ok = JsonBool(line, "ok");
    if (!wall || !latency || !ok) {
      return absl::DataLossError(absl::StrCat("probe log \"", path, "\" line ", number,
                                              " lacks wall, latency or ok: ", line));
    }
    out.push_back({FromUnixSeconds(*wall), absl::Seconds(*latency), *ok,
                   JsonString(line, "error").value_or("")});
  }
  return out;
}

}  // namespace carp_exec::failover_test
