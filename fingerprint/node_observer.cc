#include "fingerprint/node_observer.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fingerprint/carp_kernel.h"
#include "fingerprint/netlink_addresses.h"
#include "fingerprint/observer_backends.h"
#include "fingerprint/parse_text.h"

namespace carp_exec::fingerprint {
namespace {

// Interface and group names go into argv of ifconfig/ip: refuse anything that could read as an
// option ("-a") or is not a plain name, rather than let a typo change what the tool does.
bool IsPlainName(absl::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

std::string CommandText(const std::vector<std::string>& argv) {
  return absl::StrCat("`", absl::StrJoin(argv, " "), "`");
}

}  // namespace

absl::StatusOr<std::string> RunForOutput(CommandRunner* runner,
                                         const std::vector<std::string>& argv,
                                         absl::Duration timeout, absl::string_view fix) {
  absl::StatusOr<CommandResult> result = runner->Run(argv, timeout);
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat("failover: cannot run ", CommandText(argv), ": ",
                                     result.status().message(), "; ", fix));
  }
  if (result->timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat("failover: ", CommandText(argv), " did not finish within ",
                     absl::FormatDuration(timeout), " and was killed; ", fix));
  }
  if (!result->Succeeded()) {
    return absl::FailedPreconditionError(absl::StrCat("failover: ", CommandText(argv), " ",
                                                      DescribeCommandResult(*result), "; ", fix));
  }
  if (result->output_truncated) {
    return absl::ResourceExhaustedError(
        absl::StrCat("failover: ", CommandText(argv), " printed more than the output cap; ", fix));
  }
  return std::move(result->out);
}

absl::Status CheckTool(CommandRunner* runner, absl::string_view option, const std::string& path,
                       absl::string_view what) {
  absl::Status status = runner->CheckExecutable(path);
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("failover: ", option, " ", QuoteForMessage(path),
                                                  " is not usable: ", status.message(), "; set ",
                                                  option, " to the path of ", what));
}

std::string DescribeVips(const std::vector<std::string>& vips,
                         const std::vector<std::string>& held) {
  std::vector<std::string> parts;
  for (const std::string& vip : vips) {
    bool is_held = std::find(held.begin(), held.end(), vip) != held.end();
    parts.push_back(absl::StrCat(vip, is_held ? " held" : " not held"));
  }
  return absl::StrJoin(parts, ", ");
}

absl::StatusOr<std::unique_ptr<NodeObserver>> MakeNodeObserver(const ObserverOptions& options,
                                                               CommandRunner* runner) {
  if (runner == nullptr) {
    return absl::InvalidArgumentError("failover: MakeNodeObserver needs a CommandRunner");
  }
  ObserverOptions checked = options;
  const BackendKind backend = checked.backend;
  if (checked.command_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("failover: command timeout ",
                                                   absl::FormatDuration(checked.command_timeout),
                                                   " must be positive; use e.g. 2s"));
  }
  for (const std::string& name : checked.interfaces) {
    if (!IsPlainName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("failover: interface ", QuoteForMessage(name),
                       " is not an interface name; write interfaces = [\"carp0\"]"));
    }
  }
  if (!checked.group.empty() && !IsPlainName(checked.group)) {
    return absl::InvalidArgumentError(
        absl::StrCat("failover: group ", QuoteForMessage(checked.group),
                     " is not an interface group name; write group = \"edge\""));
  }
  for (std::string& vip : checked.vips) {
    std::optional<std::string> canonical = CanonicalAddress(vip);
    if (!canonical) {
      return absl::InvalidArgumentError(
          absl::StrCat("failover: vip ", QuoteForMessage(vip),
                       " is not an IP address; write vip = [\"192.0.2.10\"]"));
    }
    vip = *canonical;
  }
  if (checked.observe_in_kernel && !KernelObservationAvailable(backend)) {
    return absl::InvalidArgumentError(absl::StrCat("failover: this build cannot observe backend \"",
                                                   BackendKindName(backend),
                                                   "\" in-process; set observe_via = \"tool\""));
  }
  if (checked.ifconfig_path.empty()) checked.ifconfig_path = "/sbin/ifconfig";
  if (checked.sysctl_path.empty()) checked.sysctl_path = "/sbin/sysctl";
  if (checked.ip_path.empty()) checked.ip_path = "/sbin/ip";
  if (!checked.now) checked.now = [] { return absl::Now(); };

  if (backend == BackendKind::kOpenBsdCarp) {
    if (checked.group.empty() && checked.interfaces.empty()) {
      return absl::InvalidArgumentError(
          "failover: backend \"openbsd-carp\" needs group (the demote group, e.g. \"edge\") or "
          "interfaces = [\"carp0\"]");
    }
    return MakeOpenBsdCarpObserver(std::move(checked), runner);
  }
  if (backend == BackendKind::kFreeBsdCarp)
    return MakeFreeBsdCarpObserver(std::move(checked), runner);
  if (backend == BackendKind::kKeepalived) {
    if (checked.vips.empty() && checked.state_file.empty()) {
      return absl::InvalidArgumentError(
          "failover: backend \"keepalived\" needs vip (addresses keepalived moves) or state_file "
          "(written by a notify hook) to observe anything; set vip = [\"10.0.0.10\"]");
    }
    return MakeKeepalivedObserver(std::move(checked), runner);
  }
  if (checked.state_command.empty() || checked.state_command[0].empty()) {
    return absl::InvalidArgumentError(
        "failover: backend \"command\" needs state_command, a command that prints MASTER or "
        "BACKUP; e.g. state_command = [\"/usr/local/bin/vip-state\"]");
  }
  return MakeCommandObserver(std::move(checked), runner);
}

}  // namespace carp_exec::fingerprint
