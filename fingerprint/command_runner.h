#pragma once
// Runs an observation tool (ifconfig, sysctl, ip, a user's state command) with a deadline.
// This is the only place in fingerprint/ that creates processes, so tests replace it with
// FakeCommandRunner (fingerprint/fake_command_runner.h) and observers stay pure.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace carp_exec::fingerprint {

// What a finished (or killed) command did. Exactly one of these holds:
// exited normally (exit_code >= 0, term_signal == 0) or was killed by a signal (exit_code == -1,
// term_signal > 0). timed_out additionally says that we killed it at the deadline.
struct CommandResult {
  int exit_code = -1;
  int term_signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
  // True when out or err was cut at the runner's output cap; the rest was read and discarded.
  bool output_truncated = false;
  // The tool did not end within a bounded wait after SIGKILL (stuck in the kernel): it was
  // left unreaped rather than block the caller; exit_code and term_signal are unknown.
  bool unreaped = false;

  // Exited normally with status 0 and was not killed.
  bool Succeeded() const { return exit_code == 0 && term_signal == 0 && !timed_out; }
};

// One line for messages: "exited with status 1", "killed by signal 9 (timed out, killed)",
// followed by the first line of stderr when there is one: `: "ifconfig: carp9: no such interface"`.
std::string DescribeCommandResult(const CommandResult& result);

// How many processes SystemCommandRunner has started in this plugin process (successful
// spawns, any thread). The failover hand-over reads it before and after to report the forks it
// caused ("forks" annotation of its signalled event); benchmarks read that.
uint64_t ProcessesSpawned();

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;

  // Runs argv[0] (an absolute path, or a bare name looked up in the runner's fixed PATH) with
  // argv as its arguments and waits at most `timeout` for it. A command that starts is reported
  // through CommandResult whatever it did (non-zero exit, signal, timeout); only failing to start
  // it (empty argv, missing or non-executable file, fork failure) is an error Status.
  // Thread-safe: implementations must allow concurrent calls.
  virtual absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                            absl::Duration timeout) = 0;

  // OK when `path` names an executable regular file; otherwise an error whose message says
  // what is wrong with it ("no such file", "not executable", "is a directory"). Used by
  // NodeObserver::CheckUsable so the fingerprint can name the broken tool. The default checks
  // the real file system; fakes override it.
  virtual absl::Status CheckExecutable(const std::string& path);
};

// Runs real processes:
//  - posix_spawn with stdin from /dev/null and stdout/stderr on pipes (O_CLOEXEC, and every
//    other descriptor closed in the child where the C library allows it), default signal
//    dispositions and an empty signal mask in the child;
//  - environment: only PATH=/usr/sbin:/usr/bin:/sbin:/bin, LANG=C and LC_ALL=C, so the output is
//    parseable whatever the plugin's locale;
//  - the child leads its own process group; at the deadline the whole group gets SIGKILL (no
//    SIGTERM first: observation tools have nothing to clean up). Members of the group that still
//    hold the pipes after the child exited are killed too, so a stray background process
//    cannot hold Run past the child's exit;
//  - each of stdout/stderr is kept up to `output_cap` bytes, the rest is drained and dropped;
//  - the child is always reaped before Run returns (no zombie). This needs SIGCHLD not set to
//    SIG_IGN in the plugin (that makes the kernel reap children, and the exit status is lost:
//    Run then returns an Internal error).
class SystemCommandRunner final : public CommandRunner {
 public:
  static constexpr size_t kDefaultOutputCap = 1 << 20;  // 1 MiB per stream

  explicit SystemCommandRunner(size_t output_cap = kDefaultOutputCap) : output_cap_(output_cap) {}

  absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                    absl::Duration timeout) override;

 private:
  size_t output_cap_;
};

}  // namespace carp_exec::fingerprint
