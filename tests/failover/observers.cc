#include "tests/failover/observers.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "driver/mutex_lock.h"

extern char** environ;

namespace carp_exec::failover_test {

absl::StatusOr<std::unique_ptr<AddressMonitor>> AddressMonitor::Start(const std::string& ip,
                                                                      const std::string& ns) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  // `ip netns exec` rather than `ip -n`: the monitor then lives inside the namespace, so the test
  // bed's `down` (which kills every process in its namespaces) ends it even if we are SIGKILLed.
  std::vector<std::string> args = {ip, "netns", "exec", ns, ip, "-o", "-ts", "monitor", "address"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // ip prints its stamps in local time; UTC makes them unambiguous to read back.
  std::vector<std::string> env_strings = {"TZ=UTC"};
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "TZ=")) env_strings.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, ip.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return absl::InternalError(absl::StrCat("cannot run \"", ip, " monitor\": ", strerror(rc)));
  }
  return std::unique_ptr<AddressMonitor>(new AddressMonitor(pid, fds[0]));
}

AddressMonitor::AddressMonitor(pid_t pid, int fd) : pid_(pid), fd_(fd) {
  if (pipe2(wake_fds_, O_CLOEXEC) != 0) wake_fds_[0] = wake_fds_[1] = -1;
  thread_ = std::thread([this] { Run(); });
}

AddressMonitor::~AddressMonitor() {
  kill(pid_, SIGTERM);
  if (wake_fds_[1] >= 0) (void)!write(wake_fds_[1], "x", 1);
  thread_.join();
  int status = 0;
  waitpid(pid_, &status, 0);
  close(fd_);
  if (wake_fds_[0] >= 0) close(wake_fds_[0]);
  if (wake_fds_[1] >= 0) close(wake_fds_[1]);
}

void AddressMonitor::Run() {
  std::string pending;
  char buf[4096];
  while (true) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    if (poll(p, wake_fds_[0] >= 0 ? 2 : 1, 1000) < 0) return;
    if (p[1].revents != 0) return;
    if (p[0].revents == 0) continue;
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) return;
    const absl::Time now = absl::Now();
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string text = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      std::optional<absl::Time> stamped = MonitorLineTime(text);
      // Drop the stamp so the text starts with "Deleted" or the interface index, as before.
      if (stamped) text.erase(0, text.find(']') + 1);
      carp_exec::MutexLock lock(mu_);
      lines_.push_back(
          {stamped.value_or(now), std::string(absl::StripLeadingAsciiWhitespace(text))});
    }
  }
}

std::optional<absl::Time> AddressMonitor::Find(const std::string& address, bool deleted,
                                               absl::Time after) const {
  const std::string needle = absl::StrCat(" inet ", address, "/");
  carp_exec::MutexLock lock(mu_);
  for (const Line& line : lines_) {
    if (line.when < after || !absl::StrContains(line.text, needle)) continue;
    if (absl::StartsWith(line.text, "Deleted") == deleted) return line.when;
  }
  return std::nullopt;
}

std::optional<absl::Time> AddressMonitor::Added(const std::string& address,
                                                absl::Time after) const {
  return Find(address, false, after);
}

std::optional<absl::Time> AddressMonitor::Deleted(const std::string& address,
                                                  absl::Time after) const {
  return Find(address, true, after);
}

std::optional<absl::Time> AddressMonitor::WaitAdded(const std::string& address, absl::Time after,
                                                    absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (auto t = Added(address, after)) return t;
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

std::optional<absl::Time> AddressMonitor::WaitDeleted(const std::string& address, absl::Time after,
                                                      absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (auto t = Deleted(address, after)) return t;
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

std::optional<absl::Time> MonitorLineTime(absl::string_view line) {
  if (!absl::ConsumePrefix(&line, "[")) return std::nullopt;
  const size_t close = line.find(']');
  if (close == absl::string_view::npos) return std::nullopt;
  absl::Time when;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%dT%H:%M:%E*S", line.substr(0, close), absl::UTCTimeZone(), &when,
                       &error)) {
    return std::nullopt;
  }
  return when;
}

FileWatcher::FileWatcher(std::string path, absl::Duration interval)
    : path_(std::move(path)), interval_(interval) {
  thread_ = std::thread([this] { Run(); });
}

FileWatcher::~FileWatcher() {
  {
    carp_exec::MutexLock lock(mu_);
    stop_ = true;
  }
  thread_.join();
}

void FileWatcher::Run() {
  std::optional<std::string> last;
  while (true) {
    std::ifstream in(path_);
    std::stringstream content;
    content << in.rdbuf();
    std::string now_content(absl::StripAsciiWhitespace(content.str()));
    const absl::Time now = absl::Now();
    carp_exec::MutexLock lock(mu_);
    if (!last || *last != now_content) {
      changes_.push_back({now, now_content});
      last = now_content;
    }
    // Waiting on the condition doubles as the poll interval and lets the destructor end it.
    auto stopped = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopped), interval_)) return;
  }
}

std::vector<FileWatcher::Change> FileWatcher::Changes() const {
  carp_exec::MutexLock lock(mu_);
  return changes_;
}

std::optional<absl::Time> FileWatcher::FirstMatching(absl::Time after,
                                                     bool (*want)(const std::string&)) const {
  carp_exec::MutexLock lock(mu_);
  for (const Change& change : changes_) {
    if (change.when >= after && want(change.content)) return change.when;
  }
  return std::nullopt;
}

std::string FileWatcher::Current() const {
  carp_exec::MutexLock lock(mu_);
  return changes_.empty() ? std::string() : changes_.back().content;
}

std::optional<absl::Time> FileWatcher::WaitMatching(absl::Time after,
                                                    bool (*want)(const std::string&),
                                                    absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (auto t = FirstMatching(after, want)) return t;
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

bool IsZero(const std::string& content) { return content == "0"; }
bool IsNonZero(const std::string& content) { return !content.empty() && content != "0"; }

}  // namespace carp_exec::failover_test
