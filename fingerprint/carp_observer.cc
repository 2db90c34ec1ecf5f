// NodeObserver for OpenBSD and FreeBSD carp(4): both read `ifconfig`, and differ in how an
// address belongs to a vhid and where the demote counter lives.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fingerprint/carp_interface.h"
#include "fingerprint/carp_kernel.h"
#include "fingerprint/carp_tools.h"
#include "fingerprint/observer_backends.h"
#include "fingerprint/parse_text.h"

namespace carp_exec::fingerprint {
namespace {

bool InGroup(const CarpInterfaceStatus& iface, absl::string_view group) {
  return std::find(iface.groups.begin(), iface.groups.end(), group) != iface.groups.end();
}

// An address that moves with CARP: FreeBSD tags it "vhid N"; on OpenBSD every address of a carp
// interface (which is always in group "carp") moves with it.
bool IsCarpAddress(CarpOs os, const CarpInterfaceStatus& iface,
                   const CarpInterfaceStatus::Address& address) {
  if (os == CarpOs::kFreeBsd) return address.vhid.has_value();
  return !iface.vhids.empty() || InGroup(iface, "carp");
}

// Whether this node answers for the address. A BACKUP keeps CARP addresses configured, so only
// a MASTER vhid counts; a plain address (not CARP) always answers.
bool AddressHeld(CarpOs os, const CarpInterfaceStatus& iface,
                 const CarpInterfaceStatus::Address& address) {
  if (!IsCarpAddress(os, iface, address)) return true;
  if (address.vhid) return iface.StateOfVhid(*address.vhid) == VrrpState::kMaster;
  return std::any_of(iface.vhids.begin(), iface.vhids.end(),
                     [](const CarpVhid& v) { return v.state == VrrpState::kMaster; });
}

// "carp0 BACKUP vhid 1", "carp2 MASTER vhid 3 BACKUP vhid 4", "carp5 no vhid".
std::string DescribeInterface(const CarpInterfaceStatus& iface) {
  std::string text = iface.name;
  if (iface.vhids.empty()) absl::StrAppend(&text, " no vhid");
  for (const CarpVhid& vhid : iface.vhids) {
    absl::StrAppend(&text, " ", VrrpStateName(vhid.state), " vhid ", vhid.vhid);
  }
  return text;
}

class CarpObserver final : public NodeObserver {
 public:
  CarpObserver(CarpOs os, ObserverOptions options, CommandRunner* runner)
      : os_(os), options_(std::move(options)), runner_(runner) {}

  absl::StatusOr<Observation> Observe() override {
    absl::StatusOr<std::vector<CarpInterfaceStatus>> interfaces = ReadInterfaces();
    if (!interfaces.ok()) return interfaces.status();
    absl::StatusOr<std::optional<int>> demote = ReadDemoteCount();
    if (!demote.ok()) return demote.status();

    Observation observation;
    observation.demote_count = *demote;
    std::vector<VrrpState> states;
    std::vector<std::string> described;
    for (const CarpInterfaceStatus& iface : *interfaces) {
      // An observed interface without a vhid cannot prove BACKUP: it counts as unknown.
      if (iface.vhids.empty()) states.push_back(VrrpState::kUnknown);
      for (const CarpVhid& vhid : iface.vhids) states.push_back(vhid.state);
      described.push_back(DescribeInterface(iface));
    }
    observation.state = AggregateVrrpStates(states);
    observation.vips_held = HeldAddresses(*interfaces);
    observation.holds_vip = !observation.vips_held.empty();

    observation.detail =
        described.empty() ? std::string("no carp interface found") : absl::StrJoin(described, ", ");
    if (!options_.vips.empty()) {
      absl::StrAppend(&observation.detail, "; ",
                      DescribeVips(options_.vips, observation.vips_held));
      std::vector<std::string> absent = AbsentVips(*interfaces);
      if (!absent.empty()) {
        absl::StrAppend(&observation.detail, " (", absl::StrJoin(absent, ", "),
                        " not configured here)");
      }
    } else if (observation.vips_held.empty()) {
      absl::StrAppend(&observation.detail, "; no address held");
    } else {
      absl::StrAppend(&observation.detail, "; ", absl::StrJoin(observation.vips_held, ", "),
                      " held");
    }
    if (observation.demote_count) {
      absl::StrAppend(&observation.detail, "; demote ", *observation.demote_count);
    }
    return observation;
  }

  absl::Status CheckUsable() override {
    if (!options_.observe_in_kernel) {
      absl::Status tool = CheckTool(runner_, "ifconfig_path", options_.ifconfig_path,
                                    "ifconfig (e.g. /sbin/ifconfig)");
      if (!tool.ok()) return tool;
      if (os_ == CarpOs::kFreeBsd) {
        tool =
            CheckTool(runner_, "sysctl_path", options_.sysctl_path, "sysctl (e.g. /sbin/sysctl)");
        if (!tool.ok()) return tool;
      }
    }
    absl::StatusOr<std::optional<int>> demote = ReadDemoteCount();
    if (!demote.ok()) return demote.status();
    absl::StatusOr<std::vector<CarpInterfaceStatus>> interfaces = ReadInterfaces();
    if (!interfaces.ok()) return interfaces.status();
    if (interfaces->empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("failover: no interface with a carp vhid found by `",
                       ifconfig_listing_command(), "`; configure carp or set interfaces = [\"",
                       os_ == CarpOs::kOpenBsd ? "carp0" : "em0", "\"]"));
    }
    for (const CarpInterfaceStatus& iface : *interfaces) {
      if (!iface.vhids.empty()) continue;
      return absl::FailedPreconditionError(
          absl::StrCat("failover: interface ", iface.name,
                       " has no carp vhid (no \"carp:\" line in `", options_.ifconfig_path, " ",
                       iface.name, "`); configure carp on it or fix failover interfaces"));
    }
    std::vector<std::string> absent = AbsentVips(*interfaces);
    if (!absent.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "failover: vip ", absl::StrJoin(absent, ", "),
          " is not configured on the observed "
          "interfaces (",
          DescribeNames(*interfaces),
          "); a CARP address stays configured on the BACKUP too, so this is a typo in vip or "
          "interfaces"));
    }
    return absl::OkStatus();
  }

 private:
  std::string ifconfig_listing_command() const {
    return os_ == CarpOs::kOpenBsd ? absl::StrCat(options_.ifconfig_path, " ", options_.group)
                                   : absl::StrCat(options_.ifconfig_path, " -a");
  }

  static std::string DescribeNames(const std::vector<CarpInterfaceStatus>& interfaces) {
    std::vector<std::string> names;
    names.reserve(interfaces.size());
    for (const CarpInterfaceStatus& iface : interfaces) names.push_back(iface.name);
    return absl::StrJoin(names, ", ");
  }

  CarpTools Tools() const {
    return CarpTools{runner_, options_.ifconfig_path, options_.sysctl_path,
                     options_.command_timeout};
  }

  // The configured interfaces, or (none configured) the members of the demote group on OpenBSD
  // (`ifconfig GROUP`) / every interface with a vhid on FreeBSD (`ifconfig -a`).
  // observe_via = "kernel": SIOCGVH and getifaddrs, no fork (fingerprint/carp_kernel.h).
  absl::StatusOr<std::vector<CarpInterfaceStatus>> ReadInterfaces() const {
    if (options_.observe_in_kernel) return KernelReadCarpInterfaces(options_.interfaces);
    return ReadCarpInterfaces(Tools(), os_, options_.interfaces, options_.group);
  }

  absl::StatusOr<std::optional<int>> ReadDemoteCount() const {
    absl::StatusOr<int> count;
    if (os_ == CarpOs::kOpenBsd) {
      if (options_.group.empty()) return std::optional<int>();
      count = options_.observe_in_kernel ? KernelReadGroupDemoteCount(options_.group)
                                         : ReadGroupDemoteCount(Tools(), options_.group);
    } else {
      count =
          options_.observe_in_kernel ? KernelReadFreeBsdDemotion() : ReadFreeBsdDemotion(Tools());
    }
    if (!count.ok()) return count.status();
    return std::optional<int>(*count);
  }

  // Configured vips this node answers for; with none configured, every CARP address of a MASTER
  // vhid except IPv6 link-local ones (those never move).
  std::vector<std::string> HeldAddresses(const std::vector<CarpInterfaceStatus>& interfaces) const {
    std::vector<std::string> held;
    for (const CarpInterfaceStatus& iface : interfaces) {
      for (const CarpInterfaceStatus::Address& address : iface.addresses) {
        bool wanted = options_.vips.empty()
                          ? IsCarpAddress(os_, iface, address) && !IsIpv6LinkLocal(address.ip)
                          : std::find(options_.vips.begin(), options_.vips.end(), address.ip) !=
                                options_.vips.end();
        if (!wanted || !AddressHeld(os_, iface, address)) continue;
        if (std::find(held.begin(), held.end(), address.ip) == held.end()) {
          held.push_back(address.ip);
        }
      }
    }
    return held;
  }

  std::vector<std::string> AbsentVips(const std::vector<CarpInterfaceStatus>& interfaces) const {
    std::vector<std::string> absent;
    for (const std::string& vip : options_.vips) {
      bool found = false;
      for (const CarpInterfaceStatus& iface : interfaces) {
        for (const CarpInterfaceStatus::Address& address : iface.addresses) {
          found = found || address.ip == vip;
        }
      }
      if (!found) absent.push_back(vip);
    }
    return absent;
  }

  const CarpOs os_;
  const ObserverOptions options_;
  CommandRunner* const runner_;
};

}  // namespace

std::unique_ptr<NodeObserver> MakeOpenBsdCarpObserver(ObserverOptions options,
                                                      CommandRunner* runner) {
  return std::make_unique<CarpObserver>(CarpOs::kOpenBsd, std::move(options), runner);
}

std::unique_ptr<NodeObserver> MakeFreeBsdCarpObserver(ObserverOptions options,
                                                      CommandRunner* runner) {
  return std::make_unique<CarpObserver>(CarpOs::kFreeBsd, std::move(options), runner);
}

}  // namespace carp_exec::fingerprint
