#pragma once
// The node's addresses read in-process on Linux: one RTM_GETADDR dump over a NETLINK_ROUTE
// socket, the same kernel answer `ip -o addr show` prints, without a fork. Used by the
// keepalived observer when observe_via = "kernel" (the default on Linux builds).
//
// Kernel facts used (Linux include/uapi/linux/netlink.h, rtnetlink.h, if_addr.h):
//  - a dump request is one nlmsghdr (RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP) followed by a
//    struct ifaddrmsg; family AF_UNSPEC asks for every family;
//  - the reply is a series of RTM_NEWADDR messages, each a struct ifaddrmsg (family,
//    prefixlen, flags, scope, ifa_index) followed by rtattrs aligned to 4 bytes, carrying our
//    request's nlmsg_seq and our socket's port id in nlmsg_pid, ended by NLMSG_DONE (its
//    payload an int, negative for an error) or an NLMSG_ERROR (struct nlmsgerr, error < 0);
//  - NLM_F_DUMP_INTR on a message means the list changed during the dump: read it again;
//  - IFA_LOCAL is the interface's own address; IFA_ADDRESS is the prefix address, which is the
//    peer on a point-to-point link and equals IFA_LOCAL otherwise; IPv6 sends IFA_ADDRESS only,
//    except on a point-to-point link (IFA_LOCAL local, IFA_ADDRESS the peer), handled like IPv4
//    (Linux net/ipv4/devinet.c inet_fill_ifaddr, net/ipv6/addrconf.c inet6_fill_ifaddr).
//    So the local address is IFA_LOCAL when present, else IFA_ADDRESS (what iproute2 prints
//    first, before "peer"). IFA_LABEL (IPv4 only) is the interface or alias label.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fingerprint/linux_ip.h"

namespace carp_exec::fingerprint {

// One address of a dump.
struct KernelAddress {
  uint32_t ifindex = 0;
  std::string label;    // IFA_LABEL when sent (IPv4), else empty
  std::string family;   // "inet" or "inet6"
  std::string address;  // canonical text, no prefix ("192.0.2.10", "2001:db8::10")
  int prefix_length = 0;
};

// What one buffer of the reply held.
struct AddressDumpChunk {
  std::vector<KernelAddress> addresses;  // AF_INET and AF_INET6 entries, in order
  bool done = false;                     // NLMSG_DONE seen: the dump is complete
  bool interrupted = false;              // NLM_F_DUMP_INTR seen: the dump must be repeated
};

// Parses the bytes of one recv() of an RTM_GETADDR dump reply. Messages whose nlmsg_seq or
// nlmsg_pid is not `seq` / `port` are skipped (a late answer to an earlier request); other
// message types and families are skipped too. Errors (a message running past the buffer, an
// address attribute of the wrong size, NLMSG_ERROR, a negative NLMSG_DONE status) name what
// was wrong. Pure; any input is safe.
absl::StatusOr<AddressDumpChunk> ParseAddressDump(absl::string_view bytes, uint32_t seq,
                                                  uint32_t port);

// True in a Linux build (where ReadKernelAddresses works).
bool KernelAddressesAvailable();

// Dumps the current network namespace's addresses (the calling thread's) and returns those of
// `interfaces` (every interface when empty) as iproute2's parser would: interface name,
// family, address. A configured interface that does not exist is an error naming it, as `ip
// addr show dev X` fails. Bounded: waits at most `timeout` in all, reads at most a fixed
// number of buffers and addresses, repeats an interrupted dump at most a few times. No fork.
absl::StatusOr<std::vector<IpAddressEntry>> ReadKernelAddresses(
    const std::vector<std::string>& interfaces, absl::Duration timeout);

// The same dump with each address's interface index instead of its name (for code that works
// by index, e.g. the resign tap: no name lookups, no race with a rename).
absl::StatusOr<std::vector<KernelAddress>> ReadKernelAddressList(
    const std::vector<std::string>& interfaces, absl::Duration timeout);

}  // namespace carp_exec::fingerprint
