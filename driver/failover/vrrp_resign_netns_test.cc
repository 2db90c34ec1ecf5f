// OpenVrrpResigner's packet tap on Linux, in a network namespace of the test's own (unshare:
// the namespace and its veth pair vanish with the process): it sees this host's outgoing VRRP
// advertisements, and it keeps seeing them after its interface was deleted and re-created
// (a new index: Linux net/packet/af_packet.c, packet_notifier, forgets a bound socket's
// interface on NETDEV_UNREGISTER). Needs root; skipped otherwise.

#include "driver/failover/vrrp_resign.h"

#if defined(__linux__)

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fingerprint/command_runner.h"
#include "fingerprint/unique_fd.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {
namespace {

// keepalived 2.2's VRRPv3 advertisement recorded on tests/failover/testbed (vrrp_advert_test):
// vrid 51, priority 150, from 10.231.0.11 to 224.0.0.18, VIP 10.231.0.10.
const char kBedV3[] = "45c00020000e0000ff70cf9b0ae7000be000001231339601006441f50ae7000a";
constexpr uint32_t kVip = 0x0ae7000a;
constexpr absl::Duration kGenerous = absl::Seconds(8);  // an upper bound, never a measurement

class VrrpResignNetnsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // This process's own namespace: nothing of the host's is touched, nothing is left behind.
    if (::geteuid() == 0 && ::unshare(CLONE_NEWNET) == 0) in_namespace_ = true;
  }

  void SetUp() override {
    if (!in_namespace_) GTEST_SKIP() << "needs root to unshare a network namespace";
    if (::access("/sbin/ip", X_OK) != 0) GTEST_SKIP() << "needs /sbin/ip (iproute2)";
    (void)Ip({"link", "del", kName});  // what a failed test before this one left
    ASSERT_TRUE(MakeInterface()) << "ip link add " << kName << " type veth";
  }
  void TearDown() override {
    if (in_namespace_) (void)Ip({"link", "del", kName});
  }

  static bool Ip(std::vector<std::string> args) {
    fingerprint::SystemCommandRunner runner;
    args.insert(args.begin(), "/sbin/ip");
    absl::StatusOr<fingerprint::CommandResult> result = runner.Run(args, absl::Seconds(10));
    return result.ok() && result->Succeeded();
  }

  // kName with keepalived's address, up, its veth peer up (a link that carries packets);
  // with the interface index `index` when it is not 0.
  static bool MakeInterface(unsigned index = 0) {
    std::vector<std::string> add = {"link", "add", kName};
    if (index != 0) add.insert(add.end(), {"index", absl::StrCat(index)});
    add.insert(add.end(), {"type", "veth", "peer", "name", kPeer});
    return Ip(add) && Ip({"addr", "add", "10.231.0.11/24", "dev", kName}) &&
           Ip({"link", "set", kName, "up"}) && Ip({"link", "set", kPeer, "up"});
  }

  // Sends the recorded advertisement out of kName, as keepalived would.
  static bool SendAdvert() {
    fingerprint::UniqueFd sock(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW));
    if (!sock.valid()) return false;
    if (::setsockopt(sock.get(), SOL_SOCKET, SO_BINDTODEVICE, kName, sizeof(kName)) != 0) {
      return false;
    }
    ip_mreqn mreq{};
    mreq.imr_ifindex = static_cast<int>(::if_nametoindex(kName));
    if (::setsockopt(sock.get(), IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof(mreq)) != 0) {
      return false;
    }
    const std::string packet = absl::HexStringToBytes(kBedV3);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(0xe0000012);  // 224.0.0.18
    return ::sendto(sock.get(), packet.data(), packet.size(), 0,
                    reinterpret_cast<const sockaddr*>(&to),
                    sizeof(to)) == static_cast<ssize_t>(packet.size());
  }

  // Sends an advertisement every 50 ms until the resigner has seen one, at most kGenerous.
  static bool SeenWithin(const VrrpResigner& resigner) {
    const absl::Time end = absl::Now() + kGenerous;
    while (absl::Now() < end) {
      if (!SendAdvert()) return false;
      absl::SleepFor(absl::Milliseconds(50));
      if (resigner.HasSeenAdvert()) return true;
    }
    return false;
  }

  static constexpr char kName[] = "cxr0";
  static constexpr char kPeer[] = "cxr1";
  static inline bool in_namespace_ = false;
};

TEST_F(VrrpResignNetnsTest, TheTapSeesThisHostsOutgoingAdvertisement) {
  absl::StatusOr<std::unique_ptr<VrrpResigner>> resigner = OpenVrrpResigner(51, {kVip}, {kName});
  ASSERT_TRUE(resigner.ok()) << resigner.status();
  EXPECT_FALSE((*resigner)->HasSeenAdvert());
  EXPECT_TRUE(SeenWithin(**resigner));
}

TEST_F(VrrpResignNetnsTest, ATapOnARecreatedInterfaceFollowsItsNewIndex) {
  absl::StatusOr<std::unique_ptr<VrrpResigner>> resigner = OpenVrrpResigner(51, {kVip}, {kName});
  ASSERT_TRUE(resigner.ok()) << resigner.status();
  const unsigned before = ::if_nametoindex(kName);
  // networkd or ifupdown re-creating keepalived's VLAN: same name, new index.
  ASSERT_TRUE(Ip({"link", "del", kName}));
  ASSERT_TRUE(MakeInterface());
  ASSERT_NE(::if_nametoindex(kName), before) << "the kernel reused the index; nothing to test";
  EXPECT_TRUE(SeenWithin(**resigner)) << "the tap stayed on the deleted interface";
}

// The same with the old index given back (ip link add ... index N): the socket's own binding
// is -1 after the delete, so comparing indexes by name alone would never bind again.
TEST_F(VrrpResignNetnsTest, ATapOnAnInterfaceRecreatedWithItsOldIndexHearsItAgain) {
  absl::StatusOr<std::unique_ptr<VrrpResigner>> resigner = OpenVrrpResigner(51, {kVip}, {kName});
  ASSERT_TRUE(resigner.ok()) << resigner.status();
  const unsigned before = ::if_nametoindex(kName);
  ASSERT_TRUE(Ip({"link", "del", kName}));
  ASSERT_TRUE(MakeInterface(before)) << "ip link add " << kName << " index " << before;
  ASSERT_EQ(::if_nametoindex(kName), before);
  EXPECT_TRUE(SeenWithin(**resigner)) << "the tap stayed unbound after the delete";
}

}  // namespace
}  // namespace carp_exec::failover

#endif  // __linux__
