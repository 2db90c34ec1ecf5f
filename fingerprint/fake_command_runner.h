#pragma once
// Test double for CommandRunner (library carp_fingerprint_testing, never linked into the plugin).
// Responses are scripted per exact argv; a handler can stand in for a stateful tool (e.g. a fake
// OpenBSD ifconfig whose `-g G carpdemote N` changes what `ifconfig carp0` prints next).

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fingerprint/command_runner.h"

namespace carp_exec::fingerprint {

class FakeCommandRunner final : public CommandRunner {
 public:
  using Handler =
      std::function<absl::StatusOr<CommandResult>(const std::vector<std::string>& argv)>;

  // Every later Run(argv) returns `result` (replaces earlier scripts for this argv).
  void SetResult(const std::vector<std::string>& argv, absl::StatusOr<CommandResult> result);
  // Shorthand: exit status `exit_code`, stdout `out`, stderr `err`.
  void SetOutput(const std::vector<std::string>& argv, std::string out, int exit_code = 0,
                 std::string err = "");
  // Queues `result` for argv: queued results are returned once each, in order, before the
  // SetResult one (or, without one, the last queued result is repeated).
  void QueueResult(const std::vector<std::string>& argv, absl::StatusOr<CommandResult> result);
  // Called for an argv with no script. Without a handler such a Run is a NotFound error that
  // names the argv, so a test notices an unexpected command.
  void SetHandler(Handler handler);

  // CheckExecutable: paths are executable unless marked otherwise here.
  void SetExecutable(const std::string& path, bool executable);

  // Every argv passed to Run, in order, and the timeouts.
  std::vector<std::vector<std::string>> calls() const;
  std::vector<absl::Duration> timeouts() const;
  int CallCount(const std::vector<std::string>& argv) const;

  absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                    absl::Duration timeout) override;
  absl::Status CheckExecutable(const std::string& path) override;

 private:
  struct Script {
    std::deque<absl::StatusOr<CommandResult>> queued;
    std::optional<absl::StatusOr<CommandResult>> fixed;
    std::optional<absl::StatusOr<CommandResult>> last;
  };
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, Script> scripts_ ABSL_GUARDED_BY(mu_);
  Handler handler_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> not_executable_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<std::string>> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> timeouts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace carp_exec::fingerprint
