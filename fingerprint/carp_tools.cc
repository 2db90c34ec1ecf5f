#include "fingerprint/carp_tools.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fingerprint/backend_kind.h"
#include "fingerprint/freebsd_carp.h"
#include "fingerprint/observer_backends.h"
#include "fingerprint/openbsd_carp.h"
#include "fingerprint/parse_text.h"

namespace carp_exec::fingerprint {
namespace {

constexpr char kDemotionOid[] = "net.inet.carp.demotion";
constexpr char kPreemptOid[] = "net.inet.carp.preempt";

std::string Command(const std::vector<std::string>& argv) {
  return absl::StrCat("`", absl::StrJoin(argv, " "), "`");
}

absl::Status Unexpected(const std::vector<std::string>& argv, const absl::Status& parsed) {
  return absl::FailedPreconditionError(
      absl::StrCat("failover: ", Command(argv), " printed something unexpected: ", parsed.message(),
                   "; is it the BSD tool?"));
}

}  // namespace

absl::StatusOr<int> ReadGroupDemoteCount(const CarpTools& tools, absl::string_view group) {
  const std::vector<std::string> argv = {tools.ifconfig_path, "-g", std::string(group)};
  absl::StatusOr<std::string> out = RunForOutput(
      tools.runner, argv, tools.timeout,
      "check that the group exists (ifconfig carpN group NAME) and fix failover group");
  if (!out.ok()) return out.status();
  absl::StatusOr<OpenBsdGroupDemote> parsed = ParseOpenBsdGroupDemote(*out);
  if (!parsed.ok()) return Unexpected(argv, parsed.status());
  if (parsed->group != group) {
    return absl::FailedPreconditionError(
        absl::StrCat("failover: ", Command(argv), " reported group ",
                     QuoteForMessage(parsed->group), "; is ifconfig_path ifconfig?"));
  }
  return parsed->demote_count;
}

absl::Status ChangeGroupDemoteCount(const CarpTools& tools, absl::string_view group, int delta) {
  const int amount = std::abs(delta);
  if (delta == 0 || amount > kOpenBsdMaxDemoteStep) {
    return absl::InvalidArgumentError(absl::StrCat("openbsd-carp: demotion step ", amount,
                                                   " is outside 1..", kOpenBsdMaxDemoteStep));
  }
  const std::vector<std::string> argv = {tools.ifconfig_path, "-g", std::string(group),
                                         delta > 0 ? "carpdemote" : "-carpdemote",
                                         absl::StrCat(amount)};
  return RunForOutput(tools.runner, argv, tools.timeout,
                      "the group's counter must stay within 0..255 (sys/net/if.c)")
      .status();
}

absl::StatusOr<int> ReadFreeBsdDemotion(const CarpTools& tools) {
  const std::vector<std::string> argv = {tools.sysctl_path, "-n", kDemotionOid};
  absl::StatusOr<std::string> out =
      RunForOutput(tools.runner, argv, tools.timeout, "load carp(4) with `kldload carp`");
  if (!out.ok()) return out.status();
  absl::StatusOr<int> parsed = ParseFreeBsdDemotion(*out);
  if (!parsed.ok()) return Unexpected(argv, parsed.status());
  return *parsed;
}

absl::Status AdjustFreeBsdDemotion(const CarpTools& tools, int delta) {
  if (delta == 0 || std::abs(delta) > kFreeBsdMaxSkew) {
    return absl::InvalidArgumentError(absl::StrCat("freebsd-carp: demotion step ", std::abs(delta),
                                                   " is outside 1..", kFreeBsdMaxSkew));
  }
  return RunForOutput(tools.runner, {tools.sysctl_path, absl::StrCat(kDemotionOid, "=", delta)},
                      tools.timeout, "load carp(4) with `kldload carp`")
      .status();
}

absl::StatusOr<bool> ReadCarpPreempt(const CarpTools& tools) {
  const std::vector<std::string> argv = {tools.sysctl_path, "-n", kPreemptOid};
  absl::StatusOr<std::string> out =
      RunForOutput(tools.runner, argv, tools.timeout, "load carp(4) or fix sysctl_path");
  if (!out.ok()) return out.status();
  std::optional<int> value = ParseBoundedInt(absl::StripAsciiWhitespace(*out), 0, 1 << 30);
  if (!value) {
    return Unexpected(argv, absl::InvalidArgumentError(
                                absl::StrCat("expected 0 or 1, got ", QuoteForMessage(*out))));
  }
  return *value != 0;
}

absl::StatusOr<CarpInterfaceStatus> ReadCarpInterface(const CarpTools& tools, CarpOs os,
                                                      absl::string_view name) {
  absl::StatusOr<std::string> out =
      RunForOutput(tools.runner, {tools.ifconfig_path, std::string(name)}, tools.timeout,
                   "check that the interface exists and fix failover interfaces");
  if (!out.ok()) return out.status();
  absl::StatusOr<CarpInterfaceStatus> parsed =
      os == CarpOs::kOpenBsd ? ParseOpenBsdIfconfig(*out) : ParseFreeBsdIfconfig(*out);
  if (!parsed.ok()) return parsed.status();
  if (parsed->name != name) {
    return absl::FailedPreconditionError(absl::StrCat("failover: `", tools.ifconfig_path, " ", name,
                                                      "` described ", QuoteForMessage(parsed->name),
                                                      " instead; is ifconfig_path ifconfig?"));
  }
  return parsed;
}

absl::StatusOr<std::vector<CarpInterfaceStatus>> ListCarpInterfaces(const CarpTools& tools,
                                                                    CarpOs os,
                                                                    absl::string_view group) {
  const bool openbsd = os == CarpOs::kOpenBsd;
  absl::StatusOr<std::string> out = RunForOutput(
      tools.runner, {tools.ifconfig_path, openbsd ? std::string(group) : "-a"}, tools.timeout,
      openbsd ? "check that group exists (ifconfig carpN group NAME)"
              : "check that ifconfig_path is FreeBSD's ifconfig");
  if (!out.ok()) return out.status();
  absl::StatusOr<std::vector<CarpInterfaceStatus>> listed =
      openbsd ? ParseOpenBsdIfconfigList(*out) : ParseFreeBsdIfconfigList(*out);
  if (!listed.ok()) return listed.status();
  std::vector<CarpInterfaceStatus> result;
  for (CarpInterfaceStatus& iface : *listed) {
    if (!iface.vhids.empty()) result.push_back(std::move(iface));
  }
  return result;
}

absl::StatusOr<std::vector<CarpInterfaceStatus>> ReadCarpInterfaces(
    const CarpTools& tools, CarpOs os, const std::vector<std::string>& interfaces,
    absl::string_view group) {
  if (interfaces.empty()) return ListCarpInterfaces(tools, os, group);
  std::vector<CarpInterfaceStatus> result;
  for (const std::string& name : interfaces) {
    absl::StatusOr<CarpInterfaceStatus> iface = ReadCarpInterface(tools, os, name);
    if (!iface.ok()) return iface.status();
    result.push_back(*std::move(iface));
  }
  return result;
}

absl::Status CheckGroupMembers(const std::vector<CarpInterfaceStatus>& interfaces,
                               absl::string_view group) {
  for (const CarpInterfaceStatus& iface : interfaces) {
    if (std::find(iface.groups.begin(), iface.groups.end(), group) != iface.groups.end()) continue;
    return absl::FailedPreconditionError(absl::StrCat(
        "failover: interface ", iface.name, " is not in group ", group, " (its groups: ",
        iface.groups.empty() ? std::string("none") : absl::StrJoin(iface.groups, " "),
        "), so demoting group ", group, " would not change what it advertises; run `ifconfig ",
        iface.name, " group ", group, "` (and add `group ", group, "` to /etc/hostname.",
        iface.name, ") or fix failover interfaces"));
  }
  return absl::OkStatus();
}

int FreeBsdAdvertisedSkew(int advskew, int demotion) {
  return std::clamp(advskew + demotion, 0, kFreeBsdMaxSkew);
}

absl::Status CheckFreeBsdTakeover(bool preempt,
                                  const std::vector<CarpInterfaceStatus>& interfaces) {
  if (!preempt) {
    return absl::FailedPreconditionError(
        "failover: net.inet.carp.preempt is 0: a FreeBSD BACKUP takes over a master that "
        "advertises a higher advskew only with preempt on, so a demotion would never move the "
        "FailOver IP; run `sysctl net.inet.carp.preempt=1` and add it to /etc/sysctl.conf on "
        "both nodes");
  }
  for (const CarpInterfaceStatus& iface : interfaces) {
    for (const CarpVhid& vhid : iface.vhids) {
      if (vhid.advskew < kFreeBsdMaxSkew) continue;
      return absl::FailedPreconditionError(absl::StrCat(
          "failover: ", iface.name, " vhid ", vhid.vhid, " has advskew ", vhid.advskew,
          "; FreeBSD caps the demoted advskew at ", kFreeBsdMaxSkew,
          ", so a demotion cannot make this node less preferred; lower its advskew (ifconfig ",
          iface.name, " vhid ", vhid.vhid, " advskew 0) and keep the peer's below ",
          kFreeBsdMaxSkew));
    }
  }
  return absl::OkStatus();
}

}  // namespace carp_exec::fingerprint
