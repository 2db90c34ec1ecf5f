#include "driver/failover/demotion_backend.h"

#include <unistd.h>

#include <climits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "driver/failover/atomic_file.h"
#include "fingerprint/freebsd_carp.h"
#include "fingerprint/openbsd_carp.h"

namespace carp_exec::failover {
namespace {

using fingerprint::CommandResult;
using fingerprint::CommandRunner;

// Runs argv and turns anything but exit 0 into an error naming the command and its stderr.
absl::StatusOr<CommandResult> RunChecked(CommandRunner* runner,
                                         const std::vector<std::string>& argv) {
  absl::StatusOr<CommandResult> result = runner->Run(argv, kBackendCommandTimeout);
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat("`", absl::StrJoin(argv, " "),
                                     "` did not start: ", result.status().message()));
  }
  if (!result->Succeeded()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "`", absl::StrJoin(argv, " "), "` failed: ", fingerprint::DescribeCommandResult(*result)));
  }
  return result;
}

absl::Status CheckTool(CommandRunner* runner, absl::string_view setting, const std::string& path) {
  absl::Status s = runner->CheckExecutable(path);
  if (s.ok()) return s;
  return absl::FailedPreconditionError(absl::StrCat("failover: ", setting, " \"", path,
                                                    "\" cannot be run (", s.message(), "); set ",
                                                    setting, " to the tool's path"));
}

absl::Status CheckAmount(absl::string_view backend, int amount, int max_step) {
  if (amount < 1 || amount > max_step) {
    return absl::InvalidArgumentError(
        absl::StrCat(backend, ": demotion step ", amount, " is outside 1..", max_step));
  }
  return absl::OkStatus();
}

class OpenBsdCarpBackend final : public DemotionBackend {
 public:
  OpenBsdCarpBackend(std::string ifconfig_path, std::string group, CommandRunner* runner)
      : ifconfig_(std::move(ifconfig_path)), group_(std::move(group)), runner_(runner) {}

  absl::string_view Name() const override { return "openbsd-carp"; }
  std::string Target() const override { return absl::StrCat("group ", group_); }
  CounterKind Kind() const override { return CounterKind::kSharedCounter; }
  // carp(4) accepts 0..128 per SIOCSIFGATTR request.
  int MaxStep() const override { return 128; }

  absl::Status Demote(int amount) override { return Change("carpdemote", amount); }
  absl::Status Restore(int amount) override { return Change("-carpdemote", amount); }

  absl::StatusOr<std::optional<int>> CurrentCount() override {
    absl::StatusOr<CommandResult> result = RunChecked(runner_, {ifconfig_, "-g", group_});
    if (!result.ok()) return result.status();
    absl::StatusOr<int> count = fingerprint::ParseOpenBsdDemoteCount(result->out);
    if (!count.ok()) {
      return absl::InternalError(
          absl::StrCat("`", ifconfig_, " -g ", group_,
                       "` printed something unexpected: ", count.status().message()));
    }
    return std::optional<int>(*count);
  }

  absl::Status CheckUsable() override {
    if (group_.empty()) {
      return absl::FailedPreconditionError(
          "failover: backend openbsd-carp needs `group` (the interface group to demote, e.g. "
          "group = \"carp\")");
    }
    if (absl::Status s = CheckTool(runner_, "ifconfig_path", ifconfig_); !s.ok()) return s;
    absl::StatusOr<std::optional<int>> count = CurrentCount();
    if (!count.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("failover: cannot read the demote counter of group ", group_, " (",
                       count.status().message(),
                       "); check that the group exists (`ifconfig carpN group ", group_, "`)"));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Change(absl::string_view verb, int amount) {
    if (absl::Status s = CheckAmount(Name(), amount, MaxStep()); !s.ok()) return s;
    return RunChecked(runner_, {ifconfig_, "-g", group_, std::string(verb), absl::StrCat(amount)})
        .status();
  }

  std::string ifconfig_;
  std::string group_;
  CommandRunner* runner_;
};

inline constexpr char kFreeBsdDemotion[] = "net.inet.carp.demotion";

class FreeBsdCarpBackend final : public DemotionBackend {
 public:
  FreeBsdCarpBackend(std::string sysctl_path, CommandRunner* runner)
      : sysctl_(std::move(sysctl_path)), runner_(runner) {}

  absl::string_view Name() const override { return "freebsd-carp"; }
  std::string Target() const override { return kFreeBsdDemotion; }
  CounterKind Kind() const override { return CounterKind::kSharedCounter; }
  // The kernel caps the advertised skew at 240; one write can carry any amount.
  int MaxStep() const override { return 240; }

  // Writing the sysctl adds the written value to the demotion (carp_demote_adj).
  absl::Status Demote(int amount) override { return Change(amount); }
  absl::Status Restore(int amount) override { return Change(-amount); }

  absl::StatusOr<std::optional<int>> CurrentCount() override {
    absl::StatusOr<CommandResult> result = RunChecked(runner_, {sysctl_, "-n", kFreeBsdDemotion});
    if (!result.ok()) return result.status();
    absl::StatusOr<int> count = fingerprint::ParseFreeBsdDemotion(result->out);
    if (!count.ok()) {
      return absl::InternalError(
          absl::StrCat("`", sysctl_, " -n ", kFreeBsdDemotion,
                       "` printed something unexpected: ", count.status().message()));
    }
    return std::optional<int>(*count);
  }

  absl::Status CheckUsable() override {
    if (absl::Status s = CheckTool(runner_, "sysctl_path", sysctl_); !s.ok()) return s;
    absl::StatusOr<std::optional<int>> count = CurrentCount();
    if (!count.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("failover: cannot read ", kFreeBsdDemotion,
                                                        " (", count.status().message(),
                                                        "); load carp(4) with `kldload carp`"));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Change(int signed_amount) {
    int amount = signed_amount < 0 ? -signed_amount : signed_amount;
    if (absl::Status s = CheckAmount(Name(), amount, MaxStep()); !s.ok()) return s;
    return RunChecked(runner_, {sysctl_, absl::StrCat(kFreeBsdDemotion, "=", signed_amount)})
        .status();
  }

  std::string sysctl_;
  CommandRunner* runner_;
};

class KeepalivedBackend final : public DemotionBackend {
 public:
  explicit KeepalivedBackend(std::string track_file) : track_file_(std::move(track_file)) {}

  absl::string_view Name() const override { return "keepalived"; }
  std::string Target() const override { return absl::StrCat("track_file ", track_file_); }
  CounterKind Kind() const override { return CounterKind::kOwnedValue; }
  int MaxStep() const override { return INT_MAX / 2; }

  absl::Status Demote(int amount) override { return Add(amount); }
  absl::Status Restore(int amount) override { return Add(-amount); }

  // keepalived reads the file as one integer; a missing or empty file counts as 0 for it too.
  absl::StatusOr<std::optional<int>> CurrentCount() override {
    absl::StatusOr<std::optional<std::string>> text = ReadFileIfExists(track_file_);
    if (!text.ok()) return text.status();
    if (!text->has_value()) return std::optional<int>(0);
    absl::string_view value = absl::StripAsciiWhitespace(**text);
    if (value.empty()) return std::optional<int>(0);
    int number = 0;
    if (!absl::SimpleAtoi(value, &number)) {
      return absl::FailedPreconditionError(
          absl::StrCat("track_file ", track_file_, " holds \"", value,
                       "\", not a number; carp_exec owns this file: write 0 into it"));
    }
    return std::optional<int>(number);
  }

  absl::Status CheckUsable() override {
    if (track_file_.empty()) {
      return absl::FailedPreconditionError(
          "failover: backend keepalived needs `track_file` (the file keepalived tracks with "
          "weight -1, e.g. track_file = \"/run/keepalived/carp_exec-demote\")");
    }
    size_t slash = track_file_.rfind('/');
    std::string dir = slash == std::string::npos ? "." : track_file_.substr(0, slash + 1);
    // The write is a rename into that directory, so the directory must be writable.
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("failover: track_file ", track_file_, " is not writable (directory ", dir,
                       " missing or not writable by the plugin); create it or change track_file"));
    }
    absl::StatusOr<std::optional<int>> count = CurrentCount();
    if (!count.ok())
      return absl::FailedPreconditionError(absl::StrCat("failover: ", count.status().message()));
    return absl::OkStatus();
  }

 private:
  absl::Status Add(int delta) {
    absl::StatusOr<std::optional<int>> now = CurrentCount();
    if (!now.ok()) return now.status();
    int value = now->value_or(0) + delta;
    if (value < 0) value = 0;
    return WriteFileAtomically(track_file_, absl::StrCat(value, "\n"), 0644);
  }

  std::string track_file_;
};

class CommandBackend final : public DemotionBackend {
 public:
  CommandBackend(std::vector<std::string> demote, std::vector<std::string> restore,
                 CommandRunner* runner)
      : demote_(std::move(demote)), restore_(std::move(restore)), runner_(runner) {}

  absl::string_view Name() const override { return "command"; }
  std::string Target() const override { return "demote_command"; }
  CounterKind Kind() const override { return CounterKind::kUnknowable; }
  int MaxStep() const override { return INT_MAX / 2; }

  absl::Status Demote(int) override { return RunChecked(runner_, demote_).status(); }
  absl::Status Restore(int) override { return RunChecked(runner_, restore_).status(); }
  absl::StatusOr<std::optional<int>> CurrentCount() override { return std::optional<int>(); }

  absl::Status CheckUsable() override {
    if (demote_.empty() || restore_.empty()) {
      return absl::FailedPreconditionError(
          "failover: backend command needs both demote_command and restore_command (argv lists, "
          "e.g. demote_command = [\"/usr/local/sbin/demote\", \"on\"])");
    }
    if (absl::Status s = CheckTool(runner_, "demote_command", demote_[0]); !s.ok()) return s;
    return CheckTool(runner_, "restore_command", restore_[0]);
  }

 private:
  std::vector<std::string> demote_;
  std::vector<std::string> restore_;
  CommandRunner* runner_;
};

}  // namespace

std::unique_ptr<DemotionBackend> MakeOpenBsdCarpBackend(std::string ifconfig_path,
                                                        std::string group, CommandRunner* runner) {
  return std::make_unique<OpenBsdCarpBackend>(std::move(ifconfig_path), std::move(group), runner);
}

std::unique_ptr<DemotionBackend> MakeFreeBsdCarpBackend(std::string sysctl_path,
                                                        CommandRunner* runner) {
  return std::make_unique<FreeBsdCarpBackend>(std::move(sysctl_path), runner);
}

std::unique_ptr<DemotionBackend> MakeKeepalivedBackend(std::string track_file) {
  return std::make_unique<KeepalivedBackend>(std::move(track_file));
}

std::unique_ptr<DemotionBackend> MakeCommandBackend(std::vector<std::string> demote_command,
                                                    std::vector<std::string> restore_command,
                                                    CommandRunner* runner) {
  return std::make_unique<CommandBackend>(std::move(demote_command), std::move(restore_command),
                                          runner);
}

}  // namespace carp_exec::failover
