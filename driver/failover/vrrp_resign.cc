#include "driver/failover/vrrp_resign.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

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
#endif

namespace carp_exec::failover {
namespace {

// A MASTER advertises every interval; three intervals without one means it is not MASTER.
absl::Duration FreshFor(const VrrpAdvert& advert) {
  return std::max(absl::Milliseconds(300), 3 * absl::Milliseconds(advert.AdvertIntervalMs()));
}

}  // namespace

bool OwnAdvertStore::Wanted(const VrrpAdvert& advert) const {
  if (advert.priority == 0) return false;  // our own resign, or keepalived leaving MASTER
  if (vrid_ != 0) return advert.vrid == vrid_;
  if (vips_.empty()) return true;
  return std::any_of(advert.addresses.begin(), advert.addresses.end(), [this](uint32_t a) {
    return std::find(vips_.begin(), vips_.end(), a) != vips_.end();
  });
}

bool OwnAdvertStore::Offer(absl::Span<const uint8_t> packet, int ifindex, absl::Time now) {
  absl::StatusOr<VrrpAdvert> advert = ParseVrrpAdvert(packet);
  if (!advert.ok() || !Wanted(*advert)) return false;
  const std::pair<int, uint32_t> key(advert->vrid, advert->destination);
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

absl::StatusOr<std::vector<CapturedAdvert>> OwnAdvertStore::Pick(absl::Time now, int share) const {
  std::vector<CapturedAdvert> fresh;
  std::vector<int> vrids;
  for (const auto& [key, captured] : latest_) {
    if (now - captured.seen > FreshFor(captured.advert)) continue;
    fresh.push_back(captured);
    if (std::find(vrids.begin(), vrids.end(), key.first) == vrids.end()) vrids.push_back(key.first);
  }
  const std::string which = vrid_ != 0 ? absl::StrCat("vrid ", vrid_)
                                       : (vips_.empty() ? std::string("any vrid")
                                                        : std::string("a vrid listing the vip"));
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
    // Multicast copies loop back to our keepalived, whose immediate answer corrects a peer
    // that saw the resign before the demotion reached keepalived (see the header). A unicast
    // copy does not, so it waits until keepalived itself advertises the demoted priority.
    const bool multicast = (captured.advert.destination >> 28) == 0xe;
    if (!multicast && priority > 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "unicast peers: keepalived has not yet advertised its demoted priority (its last "
          "advertisement says ",
          priority,
          "), and a unicast copy is not looped back to it; the peer takes over at its "
          "Master_Down timer this time"));
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
  return fresh;
}

#ifdef __linux__
namespace {

constexpr size_t kReadBuffer = 2048;  // above kMaxVrrpPacket: a longer packet shows as too long
constexpr int kReadsPerWake = 64;

std::string Errno(absl::string_view call) { return absl::StrCat(call, ": ", std::strerror(errno)); }

class LinuxResigner final : public VrrpResigner {
 public:
  LinuxResigner(int capture, int send, int wake_read, int wake_write, OwnAdvertStore store)
      : capture_(capture),
        send_(send),
        wake_read_(wake_read),
        wake_write_(wake_write),
        store_(std::move(store)) {
    thread_ = std::thread([this] { CaptureLoop(); });
  }
  LinuxResigner(const LinuxResigner&) = delete;
  LinuxResigner& operator=(const LinuxResigner&) = delete;
  ~LinuxResigner() override {
    const char byte = 1;
    (void)!::write(wake_write_, &byte, 1);
    thread_.join();
    for (int fd : {capture_, send_, wake_read_, wake_write_}) ::close(fd);
  }

  absl::StatusOr<std::string> Resign(int share) override {
    absl::StatusOr<std::vector<CapturedAdvert>> picked;
    {
      absl::MutexLock lock(&mu_);
      picked = store_.Pick(tasks::MonotonicNow(), share);
    }
    if (!picked.ok()) return picked.status();
    std::vector<std::string> sent;
    for (const CapturedAdvert& captured : *picked) {
      absl::StatusOr<std::string> one = SendOne(captured);
      if (!one.ok()) return one.status();
      sent.push_back(*std::move(one));
    }
    return absl::StrCat("resigned ", absl::StrJoin(sent, "; "));
  }

  bool HasSeenAdvert() const override {
    absl::MutexLock lock(&mu_);
    return store_.Latest().has_value();
  }

  std::string Describe(int share) const override {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<std::vector<CapturedAdvert>> picked = store_.Pick(tasks::MonotonicNow(), share);
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
  absl::StatusOr<std::string> SendOne(const CapturedAdvert& captured) {
    absl::StatusOr<std::vector<uint8_t>> packet = MakeResignPacket(captured.packet);
    if (!packet.ok()) return packet.status();
    char name[IF_NAMESIZE] = {};
    if (::if_indextoname(static_cast<unsigned>(captured.ifindex), name) == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "resign: interface index ", captured.ifindex, " is gone (", std::strerror(errno), ")"));
    }
    const uint32_t destination = captured.advert.destination;
    if (::setsockopt(send_, SOL_SOCKET, SO_BINDTODEVICE, name, IF_NAMESIZE) != 0) {
      return absl::InternalError(
          absl::StrCat("resign: ", Errno("SO_BINDTODEVICE"), " (", name, ")"));
    }
    if ((destination >> 28) == 0xe) {  // multicast 224.0.0.0/4
      ip_mreqn mreq{};
      mreq.imr_ifindex = captured.ifindex;
      // Looped back to our own keepalived, which answers at once with its current priority.
      const int loop = 1;
      if (::setsockopt(send_, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof(mreq)) != 0 ||
          ::setsockopt(send_, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) != 0) {
        return absl::InternalError(
            absl::StrCat("resign: ", Errno("IP_MULTICAST_IF/LOOP"), " (", name, ")"));
      }
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(destination);
    const ssize_t n = ::sendto(send_, packet->data(), packet->size(), 0,
                               reinterpret_cast<const sockaddr*>(&to), sizeof(to));
    if (n != static_cast<ssize_t>(packet->size())) {
      return absl::UnavailableError(absl::StrCat("resign: ", Errno("sendto"), " (", name, ", ",
                                                 captured.advert.Describe(), ")"));
    }
    in_addr dst{};
    dst.s_addr = htonl(destination);
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &dst, text, sizeof(text));
    return absl::StrCat("VRRPv", captured.advert.version, " vrid ", captured.advert.vrid, " on ",
                        name, " to ", text, " (was priority ", captured.advert.priority, ")");
  }

  void CaptureLoop() {
    std::array<uint8_t, kReadBuffer> buffer{};
    for (;;) {
      pollfd fds[2] = {{capture_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
      if (::poll(fds, 2, 1000) < 0 && errno != EINTR) {
        log::Warn("failover", "resign: the capture socket failed; resign stays off",
                  {{"error", Errno("poll")}});
        return;
      }
      if ((fds[1].revents & POLLIN) != 0) return;
      for (int i = 0; i < kReadsPerWake; ++i) {
        sockaddr_ll from{};
        socklen_t from_len = sizeof(from);
        const ssize_t n =
            ::recvfrom(capture_, buffer.data(), buffer.size(), MSG_DONTWAIT | MSG_TRUNC,
                       reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n < 0) break;
        // The filter passes only outgoing VRRP; check again (packets queued before it was set).
        if (from.sll_pkttype != PACKET_OUTGOING || from.sll_protocol != htons(ETH_P_IP) ||
            static_cast<size_t>(n) > kMaxVrrpPacket) {
          continue;
        }
        absl::MutexLock lock(&mu_);
        store_.Offer(absl::MakeConstSpan(buffer.data(), static_cast<size_t>(n)), from.sll_ifindex,
                     tasks::MonotonicNow());
      }
    }
  }

  const int capture_;
  const int send_;
  const int wake_read_;
  const int wake_write_;
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

absl::StatusOr<std::unique_ptr<VrrpResigner>> OpenVrrpResigner(int vrid,
                                                               std::vector<uint32_t> vips) {
  const char* fix =
      "; handover = \"resign\" needs root (CAP_NET_RAW) in the network namespace of the VRRP "
      "interface; run the plugin as root there or set handover = \"weighted\"";
  // Only ETH_P_ALL taps see this host's outgoing frames (the kernel copies transmitted packets
  // to ptype_all handlers only: net/core/dev.c, dev_queue_xmit_nit).
  const int capture =
      ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (capture < 0)
    return absl::PermissionDeniedError(absl::StrCat("resign: ", Errno("socket(AF_PACKET)"), fix));
  if (absl::Status s = AttachOutgoingVrrpFilter(capture); !s.ok()) {
    ::close(capture);
    return absl::InternalError(absl::StrCat("resign: ", s.message()));
  }
  const int send = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (send < 0) {
    ::close(capture);
    return absl::PermissionDeniedError(absl::StrCat("resign: ", Errno("socket(SOCK_RAW)"), fix));
  }
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    ::close(capture);
    ::close(send);
    return absl::ResourceExhaustedError(absl::StrCat("resign: ", Errno("pipe2")));
  }
  return std::unique_ptr<VrrpResigner>(std::make_unique<LinuxResigner>(
      capture, send, wake[0], wake[1], OwnAdvertStore(vrid, std::move(vips))));
}
#else
absl::StatusOr<std::unique_ptr<VrrpResigner>> OpenVrrpResigner(int, std::vector<uint32_t>) {
  return absl::UnimplementedError(
      "resign: this build has no AF_PACKET capture (Linux only); set handover = \"weighted\"");
}
#endif

}  // namespace carp_exec::failover
