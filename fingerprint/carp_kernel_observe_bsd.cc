// carp_kernel.h's in-process observation on OpenBSD and FreeBSD: each carp vhid's state with
// SIOCGVH (struct carpreq, netinet/ip_carp.h) and the addresses with getifaddrs(3). Compiled
// only on those systems; not built or tested by the Linux CI (the BSD syntax gate checks it).
//
// Kernel facts used:
//  OpenBSD  SIOCGVH on a carp interface fills one struct carpreq: carpr_vhids[],
//           carpr_states[], carpr_advskews[] per vhid (carpnodes) up to CARP_MAXNODES, a 0
//           vhid ending the list, and carpr_advbase (sys/netinet/ip_carp.c, carp_ioctl). The
//           states are CARP_STATES' order: 0 INIT, 1 BACKUP, 2 MASTER (ip_carp.h). Every
//           address of a carp interface moves with it.
//  FreeBSD  SIOCGVH on the parent interface with carpr_vhid = N and carpr_count = 1 fills that
//           vhid's carpr_state, carpr_advbase, carpr_advskew; ENOENT when the interface has no
//           such vhid (sys/netinet/ip_carp.c, carp_ioctl_get). Asking with vhid 0 for all of
//           them copies carpr_count structs out of one, so we ask per vhid. The vhid of an
//           address is the ifi_vhid of the struct if_data that getifaddrs gives as ifa_data
//           for address entries (lib/libc/net/getifaddrs.c from NET_RT_IFLISTL;
//           sys/net/rtsock.c fills ifi_vhid; sbin/ifconfig/ifconfig.c print_vhid reads it so).
#if defined(__OpenBSD__) || defined(__FreeBSD__)

// BSD headers in the order they need each other.
#include <sys/types.h>
// then
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/sockio.h>
// then
#include <net/if.h>
#include <netinet/in.h>
// then
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/ip_carp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fingerprint/carp_kernel.h"
#include "fingerprint/parse_text.h"
#include "fingerprint/unique_fd.h"

namespace carp_exec::fingerprint {
namespace {

VrrpState CarpState(int state) {
  switch (state) {
    case 0:
      return VrrpState::kInit;
    case 1:
      return VrrpState::kBackup;
    case 2:
      return VrrpState::kMaster;
    default:
      return VrrpState::kUnknown;
  }
}

// The address text ifconfig prints, without a scope. The BSD kernels may keep a link-local
// address's scope (interface index) in its third and fourth bytes (the KAME convention,
// IN6_IS_SCOPE_EMBED in netinet6/in6.h); an fe80::/10 address has zeros there on the wire.
std::string AddressText(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) == nullptr) return "";
    return text;
  }
  in6_addr in6 = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr;
  if (in6.s6_addr[0] == 0xfe && (in6.s6_addr[1] & 0xc0) == 0x80) {
    in6.s6_addr[2] = 0;
    in6.s6_addr[3] = 0;
  }
  if (inet_ntop(AF_INET6, &in6, text, sizeof(text)) == nullptr) return "";
  return text;
}

absl::Status CarpRequest(const UniqueFd& sock, const std::string& name, carpreq* carpr) {
  ifreq ifr{};
  if (name.empty() || name.size() >= sizeof(ifr.ifr_name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("failover: interface ", QuoteForMessage(name), " is not an interface name"));
  }
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_data = reinterpret_cast<caddr_t>(carpr);
  if (::ioctl(sock.get(), SIOCGVH, &ifr) == 0) return absl::OkStatus();
  const int error = errno;
  if (error == ENXIO) {
    return absl::NotFoundError(absl::StrCat("failover: interface ", QuoteForMessage(name),
                                            " does not exist; fix failover interfaces"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("failover: SIOCGVH on ", QuoteForMessage(name), ": ", std::strerror(error),
                   "; is it a carp interface (OpenBSD) or one with a carp vhid (FreeBSD)? fix "
                   "failover interfaces, or set observe_via = \"tool\""));
}

}  // namespace

bool KernelCarpObservationAvailable(BackendKind backend) {
#ifdef __OpenBSD__
  return backend == BackendKind::kOpenBsdCarp;
#else
  return backend == BackendKind::kFreeBsdCarp;
#endif
}

absl::StatusOr<std::vector<CarpInterfaceStatus>> KernelReadCarpInterfaces(
    const std::vector<std::string>& interfaces) {
#ifdef __OpenBSD__
  if (interfaces.empty()) {
    return absl::InvalidArgumentError(
        "failover: observe_via = \"kernel\" needs interfaces (the carp interfaces, e.g. "
        "[\"carp0\"])");
  }
#endif
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    return absl::InternalError(absl::StrCat("failover: getifaddrs: ", std::strerror(errno)));
  }
  // Addresses per interface, and (FreeBSD) the vhids they carry.
  std::map<std::string, std::vector<CarpInterfaceStatus::Address>> addresses;
  std::map<std::string, std::set<int>> vhids;
  for (const ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr || entry->ifa_name == nullptr) continue;
    const int family = entry->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    CarpInterfaceStatus::Address address;
    address.ip = AddressText(entry->ifa_addr);
    if (address.ip.empty()) continue;
#ifdef __FreeBSD__
    if (entry->ifa_data != nullptr) {
      const int vhid = static_cast<const if_data*>(entry->ifa_data)->ifi_vhid;
      if (vhid > 0) {
        address.vhid = vhid;
        vhids[entry->ifa_name].insert(vhid);
      }
    }
#endif
    addresses[entry->ifa_name].push_back(std::move(address));
  }
  ::freeifaddrs(list);

  std::vector<std::string> names = interfaces;
#ifdef __FreeBSD__
  if (names.empty()) {
    for (const auto& [name, set] : vhids) names.push_back(name);
  }
#endif
  const UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) {
    return absl::InternalError(absl::StrCat("failover: socket(AF_INET): ", std::strerror(errno)));
  }
  std::vector<CarpInterfaceStatus> result;
  for (const std::string& name : names) {
    CarpInterfaceStatus status;
    status.name = name;
    status.addresses = addresses[name];
#ifdef __OpenBSD__
    carpreq carpr{};
    if (absl::Status s = CarpRequest(sock, name, &carpr); !s.ok()) return s;
    for (int i = 0; i < CARP_MAXNODES && carpr.carpr_vhids[i] != 0; ++i) {
      status.vhids.push_back(CarpVhid{carpr.carpr_vhids[i], CarpState(carpr.carpr_states[i]),
                                      carpr.carpr_advbase, carpr.carpr_advskews[i]});
    }
#else
    if (addresses.find(name) == addresses.end() && ::if_nametoindex(name.c_str()) == 0) {
      return absl::NotFoundError(absl::StrCat("failover: interface ", QuoteForMessage(name),
                                              " does not exist; fix failover interfaces"));
    }
    for (const int vhid : vhids[name]) {
      carpreq carpr{};
      carpr.carpr_count = 1;
      carpr.carpr_vhid = vhid;
      if (absl::Status s = CarpRequest(sock, name, &carpr); !s.ok()) return s;
      status.vhids.push_back(
          CarpVhid{vhid, CarpState(carpr.carpr_state), carpr.carpr_advbase, carpr.carpr_advskew});
    }
#endif
    result.push_back(std::move(status));
  }
  return result;
}

}  // namespace carp_exec::fingerprint

#endif  // OpenBSD or FreeBSD
