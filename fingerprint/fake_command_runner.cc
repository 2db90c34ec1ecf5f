#include "fingerprint/fake_command_runner.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "driver/mutex_lock.h"

namespace carp_exec::fingerprint {

void FakeCommandRunner::SetResult(const std::vector<std::string>& argv,
                                  absl::StatusOr<CommandResult> result) {
  carp_exec::MutexLock lock(mu_);
  scripts_[argv].fixed = std::move(result);
}

void FakeCommandRunner::SetOutput(const std::vector<std::string>& argv, std::string out,
                                  int exit_code, std::string err) {
  CommandResult result;
  result.exit_code = exit_code;
  result.out = std::move(out);
  result.err = std::move(err);
  SetResult(argv, std::move(result));
}

void FakeCommandRunner::QueueResult(const std::vector<std::string>& argv,
                                    absl::StatusOr<CommandResult> result) {
  carp_exec::MutexLock lock(mu_);
  scripts_[argv].queued.push_back(std::move(result));
}

void FakeCommandRunner::SetHandler(Handler handler) {
  carp_exec::MutexLock lock(mu_);
  handler_ = std::move(handler);
}

void FakeCommandRunner::SetExecutable(const std::string& path, bool executable) {
  carp_exec::MutexLock lock(mu_);
  if (executable) {
    not_executable_.erase(path);
  } else {
    not_executable_.insert(path);
  }
}

std::vector<std::vector<std::string>> FakeCommandRunner::calls() const {
  carp_exec::MutexLock lock(mu_);
  return calls_;
}

std::vector<absl::Duration> FakeCommandRunner::timeouts() const {
  carp_exec::MutexLock lock(mu_);
  return timeouts_;
}

int FakeCommandRunner::CallCount(const std::vector<std::string>& argv) const {
  carp_exec::MutexLock lock(mu_);
  int count = 0;
  for (const auto& call : calls_) count += call == argv ? 1 : 0;
  return count;
}

absl::StatusOr<CommandResult> FakeCommandRunner::Run(const std::vector<std::string>& argv,
                                                     absl::Duration timeout) {
  Handler handler;
  {
    carp_exec::MutexLock lock(mu_);
    calls_.push_back(argv);
    timeouts_.push_back(timeout);
    auto it = scripts_.find(argv);
    if (it != scripts_.end()) {
      Script& script = it->second;
      if (!script.queued.empty()) {
        script.last = std::move(script.queued.front());
        script.queued.pop_front();
        return *script.last;
      }
      if (script.fixed) return *script.fixed;
      if (script.last) return *script.last;
    }
    handler = handler_;
  }
  // Called without the lock so a handler may script further responses.
  if (handler) return handler(argv);
  return absl::NotFoundError(
      absl::StrCat("FakeCommandRunner: no response scripted for [", absl::StrJoin(argv, " "), "]"));
}

absl::Status FakeCommandRunner::CheckExecutable(const std::string& path) {
  carp_exec::MutexLock lock(mu_);
  if (not_executable_.count(path) > 0) {
    return absl::NotFoundError(absl::StrCat("\"", path, "\": No such file or directory"));
  }
  return absl::OkStatus();
}

}  // namespace carp_exec::fingerprint
