#include "driver/failover/demotion_backend.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "driver/failover/atomic_file.h"
#include "driver/tasks/state_dir.h"
#include "fingerprint/backend_kind.h"
#include "fingerprint/carp_kernel.h"
#include "fingerprint/carp_tools.h"

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

fingerprint::CarpTools Tools(CommandRunner* runner, std::string ifconfig_path,
                             std::string sysctl_path) {
  return fingerprint::CarpTools{runner, std::move(ifconfig_path), std::move(sysctl_path),
                                kBackendCommandTimeout};
}

class OpenBsdCarpBackend final : public DemotionBackend {
 public:
  OpenBsdCarpBackend(std::string ifconfig_path, std::string group, CommandRunner* runner,
                     std::vector<std::string> interfaces, bool in_kernel)
      : tools_(Tools(runner, std::move(ifconfig_path), "")),
        group_(std::move(group)),
        interfaces_(std::move(interfaces)),
        in_kernel_(in_kernel) {}

  absl::string_view Name() const override {
    return fingerprint::BackendKindName(fingerprint::BackendKind::kOpenBsdCarp);
  }
  std::string Target() const override { return absl::StrCat("group ", group_); }
  CounterKind Kind() const override { return CounterKind::kSharedCounter; }
  int MaxStep() const override { return fingerprint::kOpenBsdMaxDemoteStep; }

  absl::Status Demote(int amount) override { return Change(amount); }
  absl::Status Restore(int amount) override { return Change(-amount); }

  absl::StatusOr<std::optional<int>> CurrentCount() override {
    absl::StatusOr<int> count = in_kernel_ ? fingerprint::KernelReadGroupDemoteCount(group_)
                                           : fingerprint::ReadGroupDemoteCount(tools_, group_);
    if (!count.ok()) return count.status();
    return std::optional<int>(*count);
  }

  // The tool, the group's counter, and that every observed interface is in the group (a
  // demotion of a group reaches its members only: sys/netinet/ip_carp.c).
  absl::Status CheckUsable() override {
    if (group_.empty()) {
      return absl::FailedPreconditionError(
          "failover: backend openbsd-carp needs `group` (a dedicated interface group of the "
          "carp interface, e.g. group = \"edge\")");
    }
    // ifconfig is still needed to read the members (and by the observer).
    if (absl::Status s = CheckTool(tools_.runner, "ifconfig_path", tools_.ifconfig_path); !s.ok()) {
      return s;
    }
    absl::StatusOr<std::optional<int>> count = CurrentCount();
    if (!count.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("failover: cannot read the demote counter of group ", group_, " (",
                       count.status().message(),
                       "); check that the group exists (`ifconfig carpN group ", group_, "`)"));
    }
    absl::StatusOr<std::vector<fingerprint::CarpInterfaceStatus>> members =
        fingerprint::ReadCarpInterfaces(tools_, fingerprint::CarpOs::kOpenBsd, interfaces_, group_);
    if (!members.ok()) return members.status();
    return fingerprint::CheckGroupMembers(*members, group_);
  }

 private:
  absl::Status Change(int delta) {
    return in_kernel_ ? fingerprint::KernelChangeGroupDemoteCount(group_, delta)
                      : fingerprint::ChangeGroupDemoteCount(tools_, group_, delta);
  }

  fingerprint::CarpTools tools_;
  std::string group_;
  std::vector<std::string> interfaces_;
  bool in_kernel_;  // SIOCSIFGATTR in-process instead of ifconfig
};

class FreeBsdCarpBackend final : public DemotionBackend {
 public:
  FreeBsdCarpBackend(std::string sysctl_path, CommandRunner* runner, std::string ifconfig_path,
                     std::vector<std::string> interfaces, bool in_kernel)
      : tools_(Tools(runner, std::move(ifconfig_path), std::move(sysctl_path))),
        interfaces_(std::move(interfaces)),
        in_kernel_(in_kernel) {}

  absl::string_view Name() const override {
    return fingerprint::BackendKindName(fingerprint::BackendKind::kFreeBsdCarp);
  }
  std::string Target() const override { return "net.inet.carp.demotion"; }
  CounterKind Kind() const override { return CounterKind::kSharedCounter; }
  // The kernel caps the advertised skew at 240; a larger step changes nothing the peer sees.
  int MaxStep() const override { return fingerprint::kFreeBsdMaxSkew; }

  // Writing the sysctl adds the written value to the demotion (carp_demote_adj).
  absl::Status Demote(int amount) override { return Adjust(amount); }
  absl::Status Restore(int amount) override { return Adjust(-amount); }

  absl::StatusOr<std::optional<int>> CurrentCount() override {
    absl::StatusOr<int> count = in_kernel_ ? fingerprint::KernelReadFreeBsdDemotion()
                                           : fingerprint::ReadFreeBsdDemotion(tools_);
    if (!count.ok()) return count.status();
    return std::optional<int>(*count);
  }

  // The tool, the counter, and the facts a hand-over needs that do not depend on the peer:
  // net.inet.carp.preempt=1 and an own advskew below 240 (fingerprint/carp_tools.h).
  absl::Status CheckUsable() override {
    if (absl::Status s = CheckTool(tools_.runner, "sysctl_path", tools_.sysctl_path); !s.ok()) {
      return s;
    }
    absl::StatusOr<std::optional<int>> count = CurrentCount();
    if (!count.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("failover: cannot read net.inet.carp.demotion (", count.status().message(),
                       "); load carp(4) with `kldload carp`"));
    }
    absl::StatusOr<bool> preempt = fingerprint::ReadCarpPreempt(tools_);
    if (!preempt.ok()) return preempt.status();
    absl::StatusOr<std::vector<fingerprint::CarpInterfaceStatus>> interfaces =
        fingerprint::ReadCarpInterfaces(tools_, fingerprint::CarpOs::kFreeBsd, interfaces_, "");
    if (!interfaces.ok()) return interfaces.status();
    return fingerprint::CheckFreeBsdTakeover(*preempt, *interfaces);
  }

 private:
  absl::Status Adjust(int delta) {
    return in_kernel_ ? fingerprint::KernelAdjustFreeBsdDemotion(delta)
                      : fingerprint::AdjustFreeBsdDemotion(tools_, delta);
  }

  fingerprint::CarpTools tools_;
  std::vector<std::string> interfaces_;
  bool in_kernel_;  // sysctlbyname in-process instead of sysctl
};

class KeepalivedBackend final : public DemotionBackend {
 public:
  explicit KeepalivedBackend(std::string track_file) : track_file_(std::move(track_file)) {}

  absl::string_view Name() const override {
    return fingerprint::BackendKindName(fingerprint::BackendKind::kKeepalived);
  }
  std::string Target() const override { return absl::StrCat("track_file ", track_file_); }
  CounterKind Kind() const override { return CounterKind::kOwnedValue; }
  int MaxStep() const override { return fingerprint::kKeepalivedMaxDemotion; }

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
    // keepalived believes whatever this file says: a directory another user can write lets
    // them plant or replace it (a sticky bit does not help, they would own the planted file)
    // and demote or restore the node at will.
    struct stat dir_info {};
    if (::stat(dir.c_str(), &dir_info) != 0 || !S_ISDIR(dir_info.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "failover: track_file ", track_file_, ": directory ", dir, " is not a directory"));
    }
    const uid_t euid = ::geteuid();
    if ((dir_info.st_uid != 0 && dir_info.st_uid != euid) || (dir_info.st_mode & 022) != 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "failover: track_file %s: directory %s (mode %04o, owner uid %d) can be written by "
          "other users, who could plant a track_file that demotes or restores this node; use a "
          "directory only root writes (chown root %s && chmod go-w %s), e.g. /run/keepalived",
          track_file_, dir, dir_info.st_mode & 07777, static_cast<int>(dir_info.st_uid), dir, dir));
    }
    // Its ancestors, as written and as resolved: whoever can rename entries in one, or re-point
    // a symlink on the way, could swap the whole directory (tasks::CheckAncestors, the rule of
    // state_dir).
    if (absl::Status s = tasks::CheckAncestors(track_file_, euid,
                                               absl::StrCat("failover: track_file ", track_file_),
                                               "or use a directory such as /run/keepalived");
        !s.ok()) {
      return s;
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

  absl::string_view Name() const override {
    return fingerprint::BackendKindName(fingerprint::BackendKind::kCommand);
  }
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
                                                        std::string group, CommandRunner* runner,
                                                        std::vector<std::string> interfaces,
                                                        bool in_kernel) {
  return std::make_unique<OpenBsdCarpBackend>(std::move(ifconfig_path), std::move(group), runner,
                                              std::move(interfaces), in_kernel);
}

std::unique_ptr<DemotionBackend> MakeFreeBsdCarpBackend(std::string sysctl_path,
                                                        CommandRunner* runner,
                                                        std::string ifconfig_path,
                                                        std::vector<std::string> interfaces,
                                                        bool in_kernel) {
  return std::make_unique<FreeBsdCarpBackend>(
      std::move(sysctl_path), runner, std::move(ifconfig_path), std::move(interfaces), in_kernel);
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
