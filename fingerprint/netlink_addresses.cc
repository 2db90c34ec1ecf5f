// netlink_addresses.h: the RTM_GETADDR dump on Linux; Unimplemented elsewhere.

#include "fingerprint/netlink_addresses.h"

#include "absl/strings/str_cat.h"
#include "fingerprint/parse_text.h"

#ifdef __linux__

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "fingerprint/unique_fd.h"

namespace carp_exec::fingerprint {
namespace {

// Bounds of one read: a node with more addresses than this is not a FailOver node we can
// observe in-process (observe_via = "tool" still works).
constexpr size_t kMaxAddresses = 65536;
constexpr int kMaxBuffers = 4096;
// The kernel fills dump buffers of up to 32 KiB (net/netlink/af_netlink.c, netlink_dump);
// iproute2 reads with the same size.
constexpr size_t kBufferSize = 32768;
// A dump interrupted by a concurrent change is read again; past this, it is an error.
constexpr int kMaxDumpAttempts = 4;

template <typename T>
T Load(absl::string_view bytes, size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return value;
}

size_t Align4(size_t n) { return (n + 3) & ~static_cast<size_t>(3); }

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("netlink address dump: ", what));
}

// One RTM_NEWADDR payload (after the nlmsghdr).
absl::Status ParseNewAddr(absl::string_view payload, AddressDumpChunk* chunk) {
  if (payload.size() < sizeof(ifaddrmsg)) return Malformed("RTM_NEWADDR shorter than ifaddrmsg");
  const auto header = Load<ifaddrmsg>(payload, 0);
  size_t want = 0;
  std::string family;
  if (header.ifa_family == AF_INET) {
    want = 4;
    family = "inet";
  } else if (header.ifa_family == AF_INET6) {
    want = 16;
    family = "inet6";
  } else {
    return absl::OkStatus();  // not an IP address family: nothing we observe
  }
  absl::string_view local, address, label;
  for (size_t at = Align4(sizeof(ifaddrmsg)); at + sizeof(rtattr) <= payload.size();) {
    const auto attr = Load<rtattr>(payload, at);
    if (attr.rta_len < sizeof(rtattr) || attr.rta_len > payload.size() - at) {
      return Malformed(absl::StrCat("attribute ", attr.rta_type, " of length ", attr.rta_len,
                                    " runs past its message"));
    }
    const absl::string_view value =
        payload.substr(at + sizeof(rtattr), attr.rta_len - sizeof(rtattr));
    if (attr.rta_type == IFA_LOCAL) local = value;
    if (attr.rta_type == IFA_ADDRESS) address = value;
    if (attr.rta_type == IFA_LABEL) label = value;
    at += Align4(attr.rta_len);
  }
  const absl::string_view own = local.empty() ? address : local;
  if (own.empty()) return absl::OkStatus();  // no address attribute: nothing to list
  if (own.size() != want) {
    return Malformed(
        absl::StrCat(family, " address attribute of ", own.size(), " bytes, not ", want));
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(header.ifa_family, own.data(), text, sizeof(text)) == nullptr) {
    return Malformed("address not printable");
  }
  KernelAddress entry;
  entry.ifindex = header.ifa_index;
  entry.family = std::move(family);
  entry.address = text;
  entry.prefix_length = header.ifa_prefixlen;
  // IFA_LABEL is a NUL-terminated string within its attribute.
  entry.label = std::string(label.substr(0, label.find('\0')));
  chunk->addresses.push_back(std::move(entry));
  return absl::OkStatus();
}

absl::Status Errno(absl::string_view call) {
  return absl::InternalError(
      absl::StrCat("netlink address dump: ", call, ": ", std::strerror(errno)));
}

// One complete dump of every address in the namespace, or an error; `interrupted` when the
// kernel flagged it inconsistent.
using MonotonicDeadline = std::chrono::steady_clock::time_point;

absl::StatusOr<std::vector<KernelAddress>> DumpOnce(MonotonicDeadline deadline, uint32_t seq,
                                                    bool* interrupted) {
  UniqueFd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!sock.valid()) return Errno("socket(AF_NETLINK, NETLINK_ROUTE)");
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;  // nl_pid 0: the kernel picks our port id
  if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
    return Errno("bind");
  }
  socklen_t local_len = sizeof(local);
  if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
    return Errno("getsockname");
  }
  struct Request {
    nlmsghdr header;
    ifaddrmsg body;
  } request{};
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
  request.header.nlmsg_type = RTM_GETADDR;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.header.nlmsg_seq = seq;
  request.body.ifa_family = AF_UNSPEC;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(sock.get(), &request, request.header.nlmsg_len, 0,
               reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel)) < 0) {
    return Errno("sendto(RTM_GETADDR)");
  }
  std::vector<KernelAddress> all;
  std::vector<char> buffer(kBufferSize);
  for (int reads = 0; reads < kMaxBuffers; ++reads) {
    const absl::Duration left = absl::FromChrono(deadline - std::chrono::steady_clock::now());
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("netlink address dump: no complete answer in time");
    }
    pollfd fd{sock.get(), POLLIN, 0};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(left + absl::Microseconds(999)));
    const int ready = ::poll(&fd, 1, ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return Errno("poll");
    if (ready == 0) continue;  // the deadline check above ends it
    sockaddr_nl from{};
    iovec vec{buffer.data(), buffer.size()};
    msghdr message{};
    message.msg_name = &from;
    message.msg_namelen = sizeof(from);
    message.msg_iov = &vec;
    message.msg_iovlen = 1;
    const ssize_t n = ::recvmsg(sock.get(), &message, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return Errno("recvmsg");
    if ((message.msg_flags & MSG_TRUNC) != 0) {
      return Malformed(absl::StrCat("a message did not fit ", kBufferSize, " bytes"));
    }
    if (from.nl_pid != 0) continue;  // only the kernel answers a dump
    absl::StatusOr<AddressDumpChunk> chunk = ParseAddressDump(
        absl::string_view(buffer.data(), static_cast<size_t>(n)), seq, local.nl_pid);
    if (!chunk.ok()) return chunk.status();
    *interrupted = *interrupted || chunk->interrupted;
    if (all.size() + chunk->addresses.size() > kMaxAddresses) {
      return absl::ResourceExhaustedError(
          absl::StrCat("netlink address dump: more than ", kMaxAddresses,
                       " addresses on this node; set failover observe_via = \"tool\""));
    }
    for (KernelAddress& entry : chunk->addresses) all.push_back(std::move(entry));
    if (chunk->done) return all;
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "netlink address dump: no end after ", kMaxBuffers, " buffers; set observe_via = \"tool\""));
}

}  // namespace

absl::StatusOr<AddressDumpChunk> ParseAddressDump(absl::string_view bytes, uint32_t seq,
                                                  uint32_t port) {
  AddressDumpChunk chunk;
  size_t at = 0;
  while (at < bytes.size() && !chunk.done) {
    if (bytes.size() - at < sizeof(nlmsghdr)) return Malformed("a message header is cut short");
    const auto header = Load<nlmsghdr>(bytes, at);
    if (header.nlmsg_len < sizeof(nlmsghdr) || header.nlmsg_len > bytes.size() - at) {
      return Malformed(absl::StrCat("message length ", header.nlmsg_len, " at byte ", at,
                                    " does not fit the ", bytes.size(), "-byte buffer"));
    }
    const absl::string_view payload = bytes.substr(
        at + NLMSG_HDRLEN, header.nlmsg_len - std::min<size_t>(header.nlmsg_len, NLMSG_HDRLEN));
    at += std::min<size_t>(NLMSG_ALIGN(header.nlmsg_len), bytes.size() - at);
    if (header.nlmsg_seq != seq || header.nlmsg_pid != port) continue;  // not our request
    if ((header.nlmsg_flags & NLM_F_DUMP_INTR) != 0) chunk.interrupted = true;
    switch (header.nlmsg_type) {
      case NLMSG_DONE: {
        // The payload is an int since Linux 2.6 (netlink_dump_done); negative is an error.
        if (payload.size() >= sizeof(int) && Load<int>(payload, 0) < 0) {
          return absl::InternalError(
              absl::StrCat("netlink address dump failed: ", std::strerror(-Load<int>(payload, 0))));
        }
        chunk.done = true;
        break;
      }
      case NLMSG_ERROR: {
        if (payload.size() < sizeof(int)) return Malformed("NLMSG_ERROR without its error");
        const int error = Load<int>(payload, 0);
        if (error == 0) {  // an acknowledgement: the request is over
          chunk.done = true;
          break;
        }
        return absl::InternalError(absl::StrCat("netlink address dump refused: ",
                                                std::strerror(error < 0 ? -error : error)));
      }
      case RTM_NEWADDR:
        if (absl::Status s = ParseNewAddr(payload, &chunk); !s.ok()) return s;
        break;
      default:
        break;
    }
  }
  return chunk;
}

bool KernelAddressesAvailable() { return true; }

namespace {

// The dump itself, kept to the addresses of `wanted` (every address when empty).
absl::StatusOr<std::vector<KernelAddress>> DumpWanted(
    const absl::flat_hash_map<uint32_t, std::string>& wanted, absl::Duration timeout);

// The configured names as indexes, once per read: an interface renamed or recreated is seen.
absl::StatusOr<absl::flat_hash_map<uint32_t, std::string>> WantedIndexes(
    const std::vector<std::string>& interfaces) {
  absl::flat_hash_map<uint32_t, std::string> wanted;
  for (const std::string& name : interfaces) {
    const unsigned index = ::if_nametoindex(name.c_str());
    if (index == 0) {
      return absl::NotFoundError(absl::StrCat("failover: interface ", QuoteForMessage(name),
                                              " does not exist on this node (",
                                              std::strerror(errno), "); fix failover interfaces"));
    }
    wanted[index] = name;
  }
  return wanted;
}

}  // namespace

absl::StatusOr<std::vector<KernelAddress>> ReadKernelAddressList(
    const std::vector<std::string>& interfaces, absl::Duration timeout) {
  absl::StatusOr<absl::flat_hash_map<uint32_t, std::string>> wanted = WantedIndexes(interfaces);
  if (!wanted.ok()) return wanted.status();
  return DumpWanted(*wanted, timeout);
}

absl::StatusOr<std::vector<IpAddressEntry>> ReadKernelAddresses(
    const std::vector<std::string>& interfaces, absl::Duration timeout) {
  absl::StatusOr<absl::flat_hash_map<uint32_t, std::string>> wanted = WantedIndexes(interfaces);
  if (!wanted.ok()) return wanted.status();
  absl::StatusOr<std::vector<KernelAddress>> addresses = DumpWanted(*wanted, timeout);
  if (!addresses.ok()) return addresses.status();
  std::vector<IpAddressEntry> entries;
  absl::flat_hash_map<uint32_t, std::string> names;
  for (KernelAddress& address : *addresses) {
    std::string name;
    if (!wanted->empty()) {
      name = wanted->at(address.ifindex);
    } else {
      auto [it, inserted] = names.try_emplace(address.ifindex);
      if (inserted) {
        char buffer[IF_NAMESIZE] = {};
        // Gone since the dump: keep the index, so the entry still names where it was.
        it->second = ::if_indextoname(address.ifindex, buffer) != nullptr
                         ? std::string(buffer)
                         : absl::StrCat("if", address.ifindex);
      }
      name = it->second;
    }
    entries.push_back(
        IpAddressEntry{std::move(name), std::move(address.family), std::move(address.address)});
  }
  return entries;
}

namespace {

absl::StatusOr<std::vector<KernelAddress>> DumpWanted(
    const absl::flat_hash_map<uint32_t, std::string>& wanted, absl::Duration timeout) {
  // Monotonic: a clock step must neither expire the dump at once nor stretch its poll.
  const MonotonicDeadline deadline =
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          absl::ToChronoNanoseconds(timeout));
  static std::atomic<uint32_t> next_seq{1};
  std::vector<KernelAddress> addresses;
  bool interrupted = true;
  for (int attempt = 0; interrupted; ++attempt) {
    if (attempt == kMaxDumpAttempts) {
      return absl::UnavailableError(
          absl::StrCat("netlink address dump: the address list kept changing during ",
                       kMaxDumpAttempts, " dumps (NLM_F_DUMP_INTR); observe again"));
    }
    interrupted = false;
    absl::StatusOr<std::vector<KernelAddress>> dumped =
        DumpOnce(deadline, next_seq.fetch_add(1), &interrupted);
    if (!dumped.ok()) {
      return absl::Status(dumped.status().code(),
                          absl::StrCat("failover: ", dumped.status().message()));
    }
    addresses = *std::move(dumped);
  }
  if (wanted.empty()) return addresses;
  std::vector<KernelAddress> kept;
  for (KernelAddress& address : addresses) {
    if (wanted.contains(address.ifindex)) kept.push_back(std::move(address));
  }
  return kept;
}

}  // namespace

}  // namespace carp_exec::fingerprint

#else  // not Linux

namespace carp_exec::fingerprint {

absl::StatusOr<AddressDumpChunk> ParseAddressDump(absl::string_view /*bytes*/, uint32_t /*seq*/,
                                                  uint32_t /*port*/) {
  return absl::UnimplementedError("netlink exists on Linux only");
}

bool KernelAddressesAvailable() { return false; }

absl::StatusOr<std::vector<IpAddressEntry>> ReadKernelAddresses(
    const std::vector<std::string>& /*interfaces*/, absl::Duration /*timeout*/) {
  return absl::UnimplementedError(
      "failover: netlink address dumps exist on Linux only; set observe_via = \"tool\"");
}

absl::StatusOr<std::vector<KernelAddress>> ReadKernelAddressList(
    const std::vector<std::string>& /*interfaces*/, absl::Duration /*timeout*/) {
  return absl::UnimplementedError(
      "failover: netlink address dumps exist on Linux only; set observe_via = \"tool\"");
}

}  // namespace carp_exec::fingerprint

#endif
