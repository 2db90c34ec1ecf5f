#include "driver/failover/vrrp_resign.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "driver/mutex_lock.h"

#ifdef __linux__
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "driver/log/hclog.h"
#include "driver/tasks/monotonic_time.h"
#include "fingerprint/netlink_addresses.h"
#include "fingerprint/unique_fd.h"
#endif

namespace carp_exec::failover {
namespace {

// A MASTER advertises every interval; three intervals without one means it is not MASTER.
absl::Duration FreshFor(const VrrpAdvert& advert) {
  return std::max(absl::Milliseconds(300), 3 * absl::Milliseconds(advert.AdvertIntervalMs()));
}

}  // namespace

absl::Status ResignSelectable(int vrid, const std::vector<uint32_t>& ipv4_vips) {
  if (vrid != 0 || !ipv4_vips.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "vrid is unset and vip lists no IPv4 address, so carp_exec cannot tell which of this "
      "node's IPv4 virtual routers to resign (resign handles IPv4 VRRP only); set vrid in the "
      "failover block, or handover = \"weighted\"");
}

bool OwnAdvertStore::Wanted(const VrrpAdvert& advert) const {
  if (vrid_ != 0) return advert.vrid == vrid_;
  if (vips_.empty()) return true;
  return std::any_of(advert.addresses.begin(), advert.addresses.end(), [this](uint32_t a) {
    return std::find(vips_.begin(), vips_.end(), a) != vips_.end();
  });
}

bool OwnAdvertStore::Offer(absl::Span<const uint8_t> packet, int ifindex, absl::Time now) {
  absl::StatusOr<VrrpAdvert> advert = ParseVrrpAdvert(packet);
  if (!advert.ok() || advert->ttl != kVrrpTtl || !Wanted(*advert)) return false;
  const std::tuple<int, uint32_t, int> key(advert->vrid, advert->destination, ifindex);
  if (advert->priority == 0) {  // keepalived leaving MASTER there, or our own resign
    latest_.erase(key);
    return false;
  }
  if (latest_.find(key) == latest_.end() && latest_.size() >= kMaxEntries) {
    auto oldest = std::min_element(
        latest_.begin(), latest_.end(),
        [](const auto& a, const auto& b) { return a.second.seen < b.second.seen; });
    latest_.erase(oldest);
  }
  CapturedAdvert& slot = latest_[key];
  slot.packet.assign(packet.begin(), packet.end());
  slot.advert = *std::move(advert);
  slot.ifindex = ifindex;
  slot.seen = now;
  return true;
}

std::optional<CapturedAdvert> OwnAdvertStore::Latest() const {
  const CapturedAdvert* latest = nullptr;
  for (const auto& [key, captured] : latest_) {
    if (latest == nullptr || captured.seen > latest->seen) latest = &captured;
  }
  if (latest == nullptr) return std::nullopt;
  return *latest;
}

absl::StatusOr<std::vector<CapturedAdvert>> OwnAdvertStore::Pick(
    absl::Time now, int share, absl::Span<const LocalAddress> local) const {
  std::vector<CapturedAdvert> fresh;
  std::vector<int> vrids;
  std::string untrusted;  // the first fresh entry dropped for its source address
  std::map<std::pair<int, uint32_t>, int> interfaces;  // (vrid, destination) → how many
  for (const auto& entry : latest_) {
    const auto& key = entry.first;
    const CapturedAdvert& captured = entry.second;
    if (now - captured.seen > FreshFor(captured.advert)) continue;
    const bool held_here =
        std::any_of(local.begin(), local.end(), [&captured](const LocalAddress& a) {
          return a.address == captured.advert.source && a.ifindex == captured.ifindex;
        });
    if (!held_here) {
      if (untrusted.empty()) {
        untrusted =
            absl::StrCat(captured.advert.Describe(), " seen on interface index ", captured.ifindex);
      }
      continue;
    }
    fresh.push_back(captured);
    ++interfaces[{std::get<0>(key), std::get<1>(key)}];
    if (std::find(vrids.begin(), vrids.end(), std::get<0>(key)) == vrids.end()) {
      vrids.push_back(std::get<0>(key));
    }
  }
  const std::string which = vrid_ != 0 ? absl::StrCat("vrid ", vrid_)
                                       : (vips_.empty() ? std::string("any vrid")
                                                        : std::string("a vrid listing the vip"));
  if (fresh.empty() && !untrusted.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the only recent advertisement (", untrusted,
        ") does not come from an address of the interface it was seen on (a lower device of a "
        "VLAN, bond or bridge, or another sender); set interfaces in the failover block to "
        "keepalived's interface, or handover = \"weighted\""));
  }
  for (const auto& [key, count] : interfaces) {
    if (count > 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "vrid ", key.first,
          " is advertised on several interfaces that hold its source address; set interfaces "
          "in the failover block to keepalived's interface, or handover = \"weighted\""));
    }
  }
  if (fresh.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no advertisement of this node for ", which,
        " was sent within the last 3 intervals (keepalived is not MASTER here, or sends IPv6, "
        "which resign does not handle)"));
  }
  if (vrids.size() > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this node advertises several virtual routers for ", which, " (vrid ",
        absl::StrJoin(vrids, ", "), "); set vrid in the failover block to the one to resign"));
  }
  for (const CapturedAdvert& captured : fresh) {
    const int priority = captured.advert.priority;
    if (priority == 255) {
      return absl::FailedPreconditionError(
          "this node advertises priority 255 (address owner), which keepalived never lowers: a "
          "resign would hand the VIP to a peer it takes back at once; set handover = "
          "\"weighted\" or give the instance a priority below 255");
    }
    if (priority - share > 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "this node advertises priority ", priority, " and the demotion takes ", share,
          ", leaving ", priority - share,
          ": a resign is only sent when the demoted priority is 1 (surely below the peer's, which "
          "carp_exec cannot see); set demote_by = ",
          std::min(fingerprint::kKeepalivedMaxDemotion, std::max(1, priority - 1)),
          " or more, or handover = \"weighted\""));
    }
  }
  // Checked after the final refusals above, so "not yet" never hides one of them.
  for (const CapturedAdvert& captured : fresh) {
    // Multicast copies loop back to our keepalived, whose immediate answer corrects a peer
    // that saw the resign before the demotion reached keepalived (see the header). A unicast
    // copy does not, so it waits until keepalived itself advertises the demoted priority.
    const int priority = captured.advert.priority;
    const bool multicast = (captured.advert.destination >> 28) == 0xe;
    if (!multicast && priority > 1) {
      return absl::UnavailableError(absl::StrCat(
          "unicast peers: keepalived has not yet advertised its demoted priority (its last "
          "advertisement says ",
          priority, "), and a unicast copy is not looped back to it; asked again at each poll"));
    }
  }
  return fresh;
}

#ifdef __linux__
namespace {

using fingerprint::UniqueFd;
using fingerprint::WakePipe;

constexpr size_t kReadBuffer = 2048;  // above kMaxVrrpPacket: a longer packet shows as too long
constexpr int kReadsPerWake = 64;
// How often the capture thread checks that its interface was not re-created under it.
constexpr absl::Duration kRebindCheck = absl::Seconds(1);
constexpr absl::Duration kAddressDumpTimeout = absl::Seconds(1);

std::string Errno(absl::string_view call) { return absl::StrCat(call, ": ", std::strerror(errno)); }

// This host's IPv4 addresses on `interfaces` (all when empty), with their interface index as
// the kernel gave it: one netlink dump (fingerprint/netlink_addresses.h), no fork.
absl::StatusOr<std::vector<LocalAddress>> LocalIpv4Addresses(
    const std::vector<std::string>& interfaces) {
  absl::StatusOr<std::vector<fingerprint::KernelAddress>> entries =
      fingerprint::ReadKernelAddressList(interfaces, kAddressDumpTimeout);
  if (!entries.ok()) return entries.status();
  std::vector<LocalAddress> local;
  for (const fingerprint::KernelAddress& entry : *entries) {
    in_addr address{};
    if (entry.family != "inet" || ::inet_pton(AF_INET, entry.address.c_str(), &address) != 1) {
      continue;
    }
    local.push_back({ntohl(address.s_addr), static_cast<int>(entry.ifindex)});
  }
  return local;
}

class LinuxResigner final : public VrrpResigner {
 public:
  // `bound_to_one`: the capture is bound to interfaces_[0] (else it taps every interface).
  LinuxResigner(UniqueFd capture, bool bound_to_one, UniqueFd send, WakePipe wake,
                OwnAdvertStore store, std::vector<std::string> interfaces)
      : capture_(std::move(capture)),
        send_(std::move(send)),
        wake_(std::move(wake)),
        interfaces_(std::move(interfaces)),
        bound_to_one_(bound_to_one),
        store_(std::move(store)) {
    // If this throws, the members' destructors close the descriptors.
    thread_ = std::thread([this] { CaptureLoop(); });
  }
  LinuxResigner(const LinuxResigner&) = delete;
  LinuxResigner& operator=(const LinuxResigner&) = delete;
  ~LinuxResigner() override {
    wake_.Wake();
    thread_.join();
  }

  absl::StatusOr<std::string> Resign(int share) override {
    absl::StatusOr<std::vector<CapturedAdvert>> picked = PickNow(share);
    if (!picked.ok()) return picked.status();
    std::vector<std::string> sent;
    std::vector<std::string> failed;
    for (const CapturedAdvert& captured : *picked) {
      absl::StatusOr<std::string> one = SendOne(captured);
      if (one.ok()) {
        sent.push_back(*std::move(one));
      } else {
        failed.emplace_back(one.status().message());
      }
    }
    if (sent.empty()) {
      return absl::UnavailableError(absl::StrJoin(failed, "; "));
    }
    if (failed.empty()) return absl::StrCat("resigned ", absl::StrJoin(sent, "; "));
    return absl::StrCat("resigned to ", sent.size(), " of ", picked->size(),
                        " destinations: ", absl::StrJoin(sent, "; "),
                        "; failed: ", absl::StrJoin(failed, "; "));
  }

  bool HasSeenAdvert() const override {
    carp_exec::MutexLock lock(mu_);
    return store_.Latest().has_value();
  }

  std::string Describe(int share) const override {
    absl::StatusOr<std::vector<CapturedAdvert>> picked = PickNow(share);
    if (!picked.ok()) return absl::StrCat("would not resign now: ", picked.status().message());
    std::vector<std::string> texts;
    for (const CapturedAdvert& captured : *picked) {
      texts.push_back(absl::StrCat(captured.advert.Describe(), ", seen ",
                                   absl::ToInt64Milliseconds(tasks::MonotonicNow() - captured.seen),
                                   " ms ago"));
    }
    return absl::StrCat("would re-send with priority 0: ", absl::StrJoin(texts, "; "));
  }

 private:
  absl::StatusOr<std::vector<CapturedAdvert>> PickNow(int share) const {
    absl::StatusOr<std::vector<LocalAddress>> local = LocalIpv4Addresses(interfaces_);
    if (!local.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read this node's addresses to check the advertisement's source (",
                       local.status().message(), ")"));
    }
    carp_exec::MutexLock lock(mu_);
    return store_.Pick(tasks::MonotonicNow(), share, *local);
  }

  absl::StatusOr<std::string> SendOne(const CapturedAdvert& captured) {
    absl::StatusOr<std::vector<uint8_t>> packet = MakeResignPacket(captured.packet);
    if (!packet.ok()) return packet.status();
    char name[IF_NAMESIZE] = {};
    if (::if_indextoname(static_cast<unsigned>(captured.ifindex), name) == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "resign: interface index ", captured.ifindex, " is gone (", std::strerror(errno), ")"));
    }
    const uint32_t destination = captured.advert.destination;
    if (::setsockopt(send_.get(), SOL_SOCKET, SO_BINDTODEVICE, name, IF_NAMESIZE) != 0) {
      return absl::InternalError(
          absl::StrCat("resign: ", Errno("SO_BINDTODEVICE"), " (", name, ")"));
    }
    if ((destination >> 28) == 0xe) {  // multicast 224.0.0.0/4
      ip_mreqn mreq{};
      mreq.imr_ifindex = captured.ifindex;
      // Looped back to our own keepalived, which answers at once with its current priority.
      const int loop = 1;
      if (::setsockopt(send_.get(), IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof(mreq)) != 0 ||
          ::setsockopt(send_.get(), IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) != 0) {
        return absl::InternalError(
            absl::StrCat("resign: ", Errno("IP_MULTICAST_IF/LOOP"), " (", name, ")"));
      }
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(destination);
    const ssize_t n = ::sendto(send_.get(), packet->data(), packet->size(), 0,
                               reinterpret_cast<const sockaddr*>(&to), sizeof(to));
    in_addr dst{};
    dst.s_addr = htonl(destination);
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &dst, text, sizeof(text));
    if (n != static_cast<ssize_t>(packet->size())) {
      return absl::UnavailableError(absl::StrCat("resign to ", text, ": ", Errno("sendto"), " (",
                                                 name, ", ", captured.advert.Describe(), ")"));
    }
    return absl::StrCat("VRRPv", captured.advert.version, " vrid ", captured.advert.vrid, " on ",
                        name, " to ", text, " (was priority ", captured.advert.priority, ")");
  }

  // A packet socket bound to an interface that is unregistered (deleted: a VLAN or bridge
  // re-created by networkd or ifupdown) forgets it for good: the kernel sets the socket's index
  // to -1 and re-hooks a socket on NETDEV_UP only when its index matches the device's (Linux
  // net/packet/af_packet.c, packet_notifier), which -1 never does, whatever index the new
  // device gets. The tap would stay deaf and every hand-over would fall back to the weighted
  // speed. So the loop asks the socket where it is bound (getsockname) and binds again when
  // that is not the interface now carrying the name. A link that only went down and up keeps
  // its binding and needs nothing. The filter belongs to the socket, not to its binding: a new
  // bind keeps it (packet_do_bind only unhooks and re-hooks).
  void FollowReCreatedInterface() {
    if (!bound_to_one_) return;  // tapping every interface
    const int want = static_cast<int>(::if_nametoindex(interfaces_[0].c_str()));
    if (want == 0) return;  // gone for now; looked up again at the next check
    sockaddr_ll bound{};
    socklen_t bound_len = sizeof(bound);
    if (::getsockname(capture_.get(), reinterpret_cast<sockaddr*>(&bound), &bound_len) == 0 &&
        bound.sll_ifindex == want) {
      return;
    }
    sockaddr_ll where{};
    where.sll_family = AF_PACKET;
    where.sll_protocol = htons(ETH_P_ALL);
    where.sll_ifindex = want;
    if (::bind(capture_.get(), reinterpret_cast<const sockaddr*>(&where), sizeof(where)) != 0) {
      // Once per distinct error: a delete racing the lookup must not log every second.
      const std::string error = Errno("bind(AF_PACKET)");
      if (error != last_rebind_error_) {
        log::Warn("failover", "resign: cannot tap the re-created interface; will retry",
                  {{"interface", interfaces_[0]}, {"error", error}});
        last_rebind_error_ = error;
      }
      return;
    }
    last_rebind_error_.clear();
    log::Info("failover", "resign: the interface was re-created; tapping it again",
              {{"interface", interfaces_[0]},
               {"was_bound_to", absl::StrCat(bound.sll_ifindex)},
               {"index", absl::StrCat(want)}});
  }

  void CaptureLoop() {
    std::array<uint8_t, kReadBuffer> buffer{};
    absl::Time next_check = tasks::MonotonicNow() + kRebindCheck;
    for (;;) {
      pollfd fds[2] = {{capture_.get(), POLLIN, 0}, {wake_.read_fd(), POLLIN, 0}};
      if (::poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(kRebindCheck))) < 0 &&
          errno != EINTR) {
        log::Warn("failover", "resign: the capture socket failed; resign stays off",
                  {{"error", Errno("poll")}});
        return;
      }
      if ((fds[1].revents & POLLIN) != 0) return;
      // ENETDOWN on the socket (its device went down or away): look at once, not next second.
      if ((fds[0].revents & POLLERR) != 0) next_check = absl::InfinitePast();
      if (const absl::Time now = tasks::MonotonicNow(); now >= next_check) {
        next_check = now + kRebindCheck;
        FollowReCreatedInterface();
      }
      for (int i = 0; i < kReadsPerWake; ++i) {
        sockaddr_ll from{};
        socklen_t from_len = sizeof(from);
        const ssize_t n =
            ::recvfrom(capture_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT | MSG_TRUNC,
                       reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n < 0) break;
        // The filter passes only outgoing VRRP (it was attached before the bind that starts
        // the capture); checked again as a second line.
        if (from.sll_pkttype != PACKET_OUTGOING || from.sll_protocol != htons(ETH_P_IP) ||
            static_cast<size_t>(n) > kMaxVrrpPacket) {
          continue;
        }
        carp_exec::MutexLock lock(mu_);
        store_.Offer(absl::MakeConstSpan(buffer.data(), static_cast<size_t>(n)), from.sll_ifindex,
                     tasks::MonotonicNow());
      }
    }
  }

  const UniqueFd capture_;
  const UniqueFd send_;
  const WakePipe wake_;
  const std::vector<std::string> interfaces_;
  const bool bound_to_one_;        // the capture is bound to interfaces_[0]
  std::string last_rebind_error_;  // the capture thread's only
  mutable absl::Mutex mu_;
  OwnAdvertStore store_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

absl::Status AttachOutgoingVrrpFilter(int fd) {
  // Classic BPF on a SOCK_DGRAM packet socket: offset 0 is the network header. Outgoing,
  // IPv4, protocol VRRP; everything else never reaches the socket's queue.
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 5),
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PROTOCOL)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 3),
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),  // IPv4 protocol
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kIpProtoVrrp, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, static_cast<uint32_t>(kReadBuffer)),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof(code) / sizeof(code[0])), code};
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) != 0) {
    return absl::InternalError(Errno("SO_ATTACH_FILTER"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<VrrpResigner>> OpenVrrpResigner(
    int vrid, std::vector<uint32_t> vips, std::vector<std::string> interfaces) {
  if (absl::Status s = ResignSelectable(vrid, vips); !s.ok()) return s;
  const char* fix =
      "; handover = \"resign\" needs root (CAP_NET_RAW) in the network namespace of the VRRP "
      "interface; run the plugin as root there or set handover = \"weighted\"";
  // One configured interface: tap only that one (keepalived's, e.g. eth0.100, not its lower
  // device). Otherwise every interface, and Pick keeps the one holding the source address.
  int bind_ifindex = 0;
  if (interfaces.size() == 1) {
    bind_ifindex = static_cast<int>(::if_nametoindex(interfaces[0].c_str()));
    if (bind_ifindex == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "resign: interface ", interfaces[0], " (failover interfaces): ", std::strerror(errno),
          "; fix interfaces or set handover = \"weighted\""));
    }
  }
  // Protocol 0: the socket receives nothing until the bind below, so no unfiltered packet can
  // queue before the filter is attached (Linux net/packet/af_packet.c, packet_create and
  // packet_do_bind: a socket is hooked in only with a non-zero protocol).
  UniqueFd capture(::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!capture.valid())
    return absl::PermissionDeniedError(absl::StrCat("resign: ", Errno("socket(AF_PACKET)"), fix));
  if (absl::Status s = AttachOutgoingVrrpFilter(capture.get()); !s.ok()) {
    return absl::InternalError(absl::StrCat("resign: ", s.message()));
  }
  // Only ETH_P_ALL taps see this host's outgoing frames (the kernel copies transmitted packets
  // to ptype_all handlers only: net/core/dev.c, dev_queue_xmit_nit); bound to one interface,
  // only that device's transmissions are cloned to us.
  sockaddr_ll where{};
  where.sll_family = AF_PACKET;
  where.sll_protocol = htons(ETH_P_ALL);
  where.sll_ifindex = bind_ifindex;
  if (::bind(capture.get(), reinterpret_cast<const sockaddr*>(&where), sizeof(where)) != 0) {
    return absl::InternalError(
        absl::StrCat("resign: ", Errno("bind(AF_PACKET)"),
                     bind_ifindex != 0 ? absl::StrCat(" (", interfaces[0], ")") : std::string()));
  }
  UniqueFd send(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
  if (!send.valid())
    return absl::PermissionDeniedError(absl::StrCat("resign: ", Errno("socket(SOCK_RAW)"), fix));
  absl::StatusOr<WakePipe> wake = WakePipe::Open();
  if (!wake.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat("resign: ", wake.status().message()));
  }
  return std::unique_ptr<VrrpResigner>(std::make_unique<LinuxResigner>(
      std::move(capture), bind_ifindex != 0, std::move(send), *std::move(wake),
      OwnAdvertStore(vrid, std::move(vips)), std::move(interfaces)));
}
#else
absl::StatusOr<std::unique_ptr<VrrpResigner>> OpenVrrpResigner(int, std::vector<uint32_t>,
                                                               std::vector<std::string>) {
  return absl::UnimplementedError(
      "resign: this build has no AF_PACKET capture (Linux only); set handover = \"weighted\"");
}
#endif

}  // namespace carp_exec::failover
