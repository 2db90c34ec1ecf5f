// VRRP advertisement parsing, the priority-0 copy, and which captured advertisement a resign
// re-sends (vrrp_advert.h, vrrp_resign.h). Recorded bytes: the first packet is keepalived's own
// VRRPv3 advertisement on tests/failover/testbed (edge-a, vrid 51, priority 150, advert_int 1,
// VIP 10.231.0.10), read with an AF_PACKET socket; the others were built from it and their
// checksums computed independently (a full RFC 1071 sum, not the incremental update under test).

#include "driver/failover/vrrp_advert.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "driver/failover/vrrp_resign.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> Hex(const std::string& hex) {
  const std::string bytes = absl::HexStringToBytes(hex);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

// keepalived 2.2 (Debian 12), VRRPv3 multicast to 224.0.0.18.
const char kBedV3[] = "45c00020000e0000ff70cf9b0ae7000be000001231339601006441f50ae7000a";
const char kBedV3Resign[] = "45c00020000e0000ff70cf9b0ae7000be0000012313300010064d7f50ae7000a";
// The same as VRRPv2 (auth none, advert_int 1 s, 8 bytes of auth data).
const char kV2[] =
    "45c00028000e0000ff70cf930ae7000be00000122133960100013dd90ae7000a0000000000000000";
const char kV2Resign[] =
    "45c00028000e0000ff70cf930ae7000be0000012213300010001d3d90ae7000a0000000000000000";
// VRRPv3 unicast to the peer 10.231.0.12 (its address is in the pseudo-header), vrid 7,
// priority 254, two addresses.
const char kV3Unicast[] =
    "45c00024000e0000ff70cf9b0ae7000b0ae7000c3107fe02000aa49a0ae7000a0ae70014";
// The same after keepalived applied the demotion: priority 1.
const char kV3UnicastDemoted[] =
    "45c00024000e0000ff70cf9b0ae7000b0ae7000c31070102000aa19b0ae7000a0ae70014";
const char kV3UnicastResign[] =
    "45c00024000e0000ff70cf9b0ae7000b0ae7000c31070002000aa29b0ae7000a0ae70014";

constexpr uint32_t kVip = 0x0ae7000a;  // 10.231.0.10

TEST(VrrpAdvertTest, ReadsKeepalivedsV3AdvertRecordedOnTheBed) {
  absl::StatusOr<VrrpAdvert> advert = ParseVrrpAdvert(Hex(kBedV3));
  ASSERT_TRUE(advert.ok()) << advert.status();
  EXPECT_EQ(advert->version, 3);
  EXPECT_EQ(advert->vrid, 51);
  EXPECT_EQ(advert->priority, 150);
  EXPECT_EQ(advert->advert_interval, 100);  // centiseconds
  EXPECT_EQ(advert->AdvertIntervalMs(), 1000);
  EXPECT_EQ(advert->ttl, 255);
  EXPECT_EQ(advert->source, 0x0ae7000bu);
  EXPECT_EQ(advert->destination, 0xe0000012u);
  EXPECT_EQ(advert->addresses, std::vector<uint32_t>{kVip});
  EXPECT_EQ(advert->Describe(),
            "VRRPv3 vrid 51 priority 150 from 10.231.0.11 to 224.0.0.18, interval 1000 ms, 1 "
            "address");
}

TEST(VrrpAdvertTest, ResignChangesOnlyThePriorityAndKeepsTheChecksumRight) {
  for (const auto& [own, resign] : {std::pair{kBedV3, kBedV3Resign}, std::pair{kV2, kV2Resign},
                                    std::pair{kV3Unicast, kV3UnicastResign}}) {
    absl::StatusOr<std::vector<uint8_t>> out = MakeResignPacket(Hex(own));
    ASSERT_TRUE(out.ok()) << own << ": " << out.status();
    EXPECT_EQ(*out, Hex(resign)) << own;
    absl::StatusOr<VrrpAdvert> again = ParseVrrpAdvert(*out);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->priority, 0);
    EXPECT_EQ(again->ttl, 255);
  }
}

TEST(VrrpAdvertTest, ReadsV2AndUnicastV3) {
  absl::StatusOr<VrrpAdvert> v2 = ParseVrrpAdvert(Hex(kV2));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->advert_interval, 1);  // seconds
  EXPECT_EQ(v2->AdvertIntervalMs(), 1000);
  EXPECT_EQ(v2->v2_auth_type, 0);
  absl::StatusOr<VrrpAdvert> unicast = ParseVrrpAdvert(Hex(kV3Unicast));
  ASSERT_TRUE(unicast.ok()) << unicast.status();
  EXPECT_EQ(unicast->destination, 0x0ae7000cu);
  EXPECT_EQ(unicast->addresses, (std::vector<uint32_t>{kVip, 0x0ae70014}));
}

TEST(VrrpAdvertTest, EveryTruncationIsRefusedWithoutReadingPastTheEnd) {
  const std::vector<uint8_t> packet = Hex(kBedV3);
  for (size_t n = 0; n < packet.size(); ++n) {
    EXPECT_FALSE(ParseVrrpAdvert(absl::MakeConstSpan(packet.data(), n)).ok()) << n;
  }
}

TEST(VrrpAdvertTest, EverySingleByteChangeIsReadOrRefusedNeverACrash) {
  for (const char* hex : {kBedV3, kV2, kV3Unicast}) {
    const std::vector<uint8_t> original = Hex(hex);
    for (size_t i = 0; i < original.size(); ++i) {
      for (int value = 0; value < 256; ++value) {
        std::vector<uint8_t> packet = original;
        packet[i] = static_cast<uint8_t>(value);
        absl::StatusOr<VrrpAdvert> advert = ParseVrrpAdvert(packet);
        if (advert.ok()) {
          // Accepted changes never touch the VRRP message (its checksum guards it; a
          // priority/checksum pair needs two bytes): only the IPv4 header may differ.
          const size_t ip_header = size_t{original[0] & 0x0fu} * 4;
          ASSERT_EQ(packet.size(), original.size());
          EXPECT_TRUE(std::equal(packet.begin() + static_cast<std::ptrdiff_t>(ip_header),
                                 packet.end(),
                                 original.begin() + static_cast<std::ptrdiff_t>(ip_header)))
              << hex << " byte " << i << " = " << value;
          EXPECT_EQ(advert->priority, original[ip_header + 2]) << hex << " byte " << i;
        }
      }
    }
  }
}

TEST(VrrpAdvertTest, RefusalsNameTheFieldAndTheWayOut) {
  std::vector<uint8_t> ah = Hex(kBedV3);
  ah[9] = kIpProtoAh;
  EXPECT_THAT(std::string(ParseVrrpAdvert(ah).status().message()),
              HasSubstr("IP protocol 51 (IPsec-AH)"));
  EXPECT_THAT(std::string(ParseVrrpAdvert(ah).status().message()),
              HasSubstr("handover = \"weighted\""));

  // keepalived's authentication trailer: bytes after the addresses, covered by the IP length
  // (keepalived/vrrp/vrrp.c, vrrp_check_packet).
  std::vector<uint8_t> trailer = Hex(kBedV3);
  trailer.insert(trailer.end(), 24, 0);
  trailer[3] = static_cast<uint8_t>(trailer.size());
  EXPECT_THAT(std::string(ParseVrrpAdvert(trailer).status().message()),
              HasSubstr("authentication trailer"));

  std::vector<uint8_t> bad_sum = Hex(kBedV3);
  bad_sum[27] ^= 1;
  EXPECT_EQ(ParseVrrpAdvert(bad_sum).status().message(),
            "VRRP packet: checksum 0x41f4 does not match the v3 message");

  std::vector<uint8_t> fragment = Hex(kBedV3);
  fragment[6] = 0x20;  // more fragments
  EXPECT_THAT(std::string(ParseVrrpAdvert(fragment).status().message()), HasSubstr("fragment"));

  // Ethernet padding after the IP total length is allowed, as keepalived allows it
  // (keepalived/vrrp/vrrp.c, vrrp_check_packet).
  std::vector<uint8_t> padded = Hex(kBedV3);
  padded.resize(46, 0);
  EXPECT_TRUE(ParseVrrpAdvert(padded).ok());

  EXPECT_EQ(MakeResignPacket(Hex(kBedV3Resign)).status().message(),
            "VRRP packet: priority is already 0");
}

// ---- which captured advertisement a resign re-sends -------------------------------------

const absl::Time kT0 = absl::FromUnixSeconds(1000);
// The recorded packets come from 10.231.0.11, held by interface 2 here.
constexpr uint32_t kSource = 0x0ae7000b;
const LocalAddress kLocalArray[] = {{kSource, 2}};
const absl::Span<const LocalAddress> kLocal(kLocalArray);

TEST(OwnAdvertStoreTest, PicksTheVirtualRouterThatListsTheVip) {
  OwnAdvertStore store(0, {kVip});
  EXPECT_FALSE(store.Offer(Hex(kBedV3Resign), 2, kT0));  // our own resign, or a shutdown
  EXPECT_TRUE(store.Offer(Hex(kBedV3), 2, kT0));
  EXPECT_FALSE(store.Offer(Hex("00"), 2, kT0));
  absl::StatusOr<std::vector<CapturedAdvert>> picked =
      store.Pick(kT0 + absl::Seconds(1), 253, kLocal);
  ASSERT_TRUE(picked.ok()) << picked.status();
  ASSERT_EQ(picked->size(), 1u);
  EXPECT_EQ((*picked)[0].ifindex, 2);
  EXPECT_EQ((*picked)[0].advert.vrid, 51);

  OwnAdvertStore other(0, {0x0a000001});
  EXPECT_FALSE(other.Offer(Hex(kBedV3), 2, kT0));
  OwnAdvertStore by_vrid(7, {kVip});
  EXPECT_FALSE(by_vrid.Offer(Hex(kBedV3), 2, kT0));
  EXPECT_TRUE(by_vrid.Offer(Hex(kV3Unicast), 2, kT0));
}

TEST(OwnAdvertStoreTest, NothingFreshMeansNotMasterAndNoResign) {
  OwnAdvertStore store(0, {kVip});
  EXPECT_THAT(std::string(store.Pick(kT0, 253, kLocal).status().message()),
              HasSubstr("no advertisement of this node"));
  ASSERT_TRUE(store.Offer(Hex(kBedV3), 2, kT0));
  // advert_int 1 s: fresh for 3 s.
  EXPECT_TRUE(store.Pick(kT0 + absl::Seconds(3), 253, kLocal).ok());
  EXPECT_THAT(
      std::string(store.Pick(kT0 + absl::Milliseconds(3001), 253, kLocal).status().message()),
      HasSubstr("keepalived is not MASTER here"));
}

TEST(OwnAdvertStoreTest, ResignsOnlyWhenTheDemotionReachesPriorityOne) {
  OwnAdvertStore store(0, {kVip});
  ASSERT_TRUE(store.Offer(Hex(kBedV3), 2, kT0));  // priority 150
  EXPECT_TRUE(store.Pick(kT0, 149, kLocal).ok());
  EXPECT_EQ(store.Pick(kT0, 50, kLocal).status().message(),
            "this node advertises priority 150 and the demotion takes 50, leaving 100: a resign "
            "is only sent when the demoted priority is 1 (surely below the peer's, which "
            "carp_exec cannot see); set demote_by = 149 or more, or handover = \"weighted\"");
  OwnAdvertStore owner(0, {});
  std::vector<uint8_t> p255 = Hex(kBedV3);
  p255[22] = 255;
  p255[26] = 0xd8;  // the checksum for priority 255 (a full RFC 1071 sum)
  p255[27] = 0xf4;
  ASSERT_TRUE(owner.Offer(p255, 2, kT0));
  EXPECT_THAT(std::string(owner.Pick(kT0, 253, kLocal).status().message()),
              HasSubstr("priority 255 (address owner)"));
}

TEST(OwnAdvertStoreTest, UnicastWaitsUntilKeepalivedAdvertisesTheDemotion) {
  OwnAdvertStore store(7, {});
  ASSERT_TRUE(store.Offer(Hex(kV3Unicast), 2, kT0));  // priority 254, to 10.231.0.12
  const absl::Status not_yet = store.Pick(kT0, 253, kLocal).status();
  EXPECT_EQ(not_yet.code(), absl::StatusCode::kUnavailable);  // the handshake asks again
  EXPECT_THAT(std::string(not_yet.message()),
              HasSubstr("unicast peers: keepalived has not yet advertised its demoted priority"));
  ASSERT_TRUE(store.Offer(Hex(kV3UnicastDemoted), 2, kT0 + absl::Milliseconds(50)));
  EXPECT_TRUE(store.Pick(kT0 + absl::Milliseconds(60), 253, kLocal).ok());
}

TEST(OwnAdvertStoreTest, TwoVirtualRoutersWithoutAVipOrVridAreAmbiguous) {
  OwnAdvertStore store(0, {});
  ASSERT_TRUE(store.Offer(Hex(kBedV3), 2, kT0));
  ASSERT_TRUE(store.Offer(Hex(kV3Unicast), 2, kT0));
  EXPECT_THAT(std::string(store.Pick(kT0, 253, kLocal).status().message()),
              HasSubstr("several virtual routers for any vrid (vrid 7, 51); set vrid"));
}

TEST(OwnAdvertStoreTest, KeepsOnePerDestinationAndAtMostSixteen) {
  OwnAdvertStore store(0, {});
  const std::vector<uint8_t> base = Hex(kV3UnicastDemoted);
  for (int peer = 0; peer < 40; ++peer) {
    std::vector<uint8_t> packet = base;
    packet[19] = static_cast<uint8_t>(peer);  // destination 10.231.0.<peer>
    // Keep the v3 checksum right for the new pseudo-header: destination word +peer-12.
    uint32_t sum = (~((uint32_t{packet[26]} << 8) | packet[27]) & 0xffff) + 0xffff - 12 + peer;
    while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
    const uint16_t checksum = static_cast<uint16_t>(~sum & 0xffff);
    packet[26] = static_cast<uint8_t>(checksum >> 8);
    packet[27] = static_cast<uint8_t>(checksum & 0xff);
    ASSERT_TRUE(store.Offer(packet, 2, kT0 + absl::Milliseconds(peer))) << peer;
  }
  // advert_int 0.1 s: fresh for 300 ms.
  absl::StatusOr<std::vector<CapturedAdvert>> picked =
      store.Pick(kT0 + absl::Milliseconds(100), 253, kLocal);
  ASSERT_TRUE(picked.ok()) << picked.status();
  EXPECT_EQ(picked->size(), OwnAdvertStore::kMaxEntries);
  for (const CapturedAdvert& captured : *picked) EXPECT_GE(captured.advert.destination & 0xff, 24u);
}

// The same advertisement as seen on keepalived's interface (a VLAN, bond or bridge: index 5,
// which holds the source address) and on its lower device (index 2): the resign must leave by
// index 5, whichever copy the capture read last.
TEST(OwnAdvertStoreTest, PicksTheInterfaceThatHoldsTheSourceAddressNotTheLowerDevice) {
  const LocalAddress on_vlan[] = {{kSource, 5}};
  for (const bool vlan_first : {true, false}) {
    OwnAdvertStore store(0, {kVip});
    ASSERT_TRUE(store.Offer(Hex(kBedV3), vlan_first ? 5 : 2, kT0));
    ASSERT_TRUE(store.Offer(Hex(kBedV3), vlan_first ? 2 : 5, kT0));
    absl::StatusOr<std::vector<CapturedAdvert>> picked = store.Pick(kT0, 253, on_vlan);
    ASSERT_TRUE(picked.ok()) << picked.status();
    ASSERT_EQ(picked->size(), 1u);
    EXPECT_EQ((*picked)[0].ifindex, 5);
  }
  // Both hold the address: which one keepalived uses is unknown, so no resign.
  OwnAdvertStore store(0, {kVip});
  ASSERT_TRUE(store.Offer(Hex(kBedV3), 5, kT0));
  ASSERT_TRUE(store.Offer(Hex(kBedV3), 2, kT0));
  const LocalAddress on_both[] = {{kSource, 5}, {kSource, 2}};
  EXPECT_THAT(std::string(store.Pick(kT0, 253, on_both).status().message()),
              HasSubstr("advertised on several interfaces that hold its source address; set "
                        "interfaces"));
}

TEST(OwnAdvertStoreTest, ASourceThatIsNotOursIsNeverResent) {
  OwnAdvertStore store(0, {kVip});
  ASSERT_TRUE(store.Offer(Hex(kBedV3), 2, kT0));
  const LocalAddress elsewhere[] = {{0x0ae70063, 2}, {kSource, 9}};
  EXPECT_THAT(std::string(store.Pick(kT0, 253, elsewhere).status().message()),
              HasSubstr("does not come from an address of the interface it was seen on"));
  EXPECT_FALSE(store.Pick(kT0, 253, {}).ok());
}

// A receiver drops an advertisement whose TTL is not 255 (RFC 5798 §5.1.1.3; keepalived
// vrrp.c vrrp_check_packet), so only such a copy is worth re-sending.
TEST(OwnAdvertStoreTest, OnlyTtl255IsKept) {
  std::vector<uint8_t> ttl64 = Hex(kBedV3);
  ttl64[8] = 64;
  ttl64[10] = ttl64[11] = 0;
  const uint16_t header_sum = InternetChecksum(absl::MakeConstSpan(ttl64.data(), 20));
  ttl64[10] = static_cast<uint8_t>(header_sum >> 8);
  ttl64[11] = static_cast<uint8_t>(header_sum & 0xff);
  ASSERT_TRUE(ParseVrrpAdvert(ttl64).ok());
  OwnAdvertStore store(0, {kVip});
  EXPECT_FALSE(store.Offer(ttl64, 2, kT0));
  EXPECT_FALSE(store.Latest().has_value());
}

TEST(OwnAdvertStoreTest, OurOwnPriorityZeroGoodbyeForgetsThatEntry) {
  OwnAdvertStore store(0, {kVip});
  ASSERT_TRUE(store.Offer(Hex(kBedV3), 2, kT0));
  // The same goodbye on another interface leaves this one alone.
  EXPECT_FALSE(store.Offer(Hex(kBedV3Resign), 7, kT0 + absl::Milliseconds(5)));
  EXPECT_TRUE(store.Pick(kT0 + absl::Milliseconds(10), 253, kLocal).ok());
  // keepalived left MASTER on interface 2 (its shutdown sends priority 0: vrrp.c,
  // vrrp_restore_interface): nothing to re-send.
  EXPECT_FALSE(store.Offer(Hex(kBedV3Resign), 2, kT0 + absl::Milliseconds(20)));
  EXPECT_THAT(std::string(store.Pick(kT0 + absl::Milliseconds(30), 253, kLocal).status().message()),
              HasSubstr("no advertisement of this node"));
}

TEST(ResignSelectableTest, NoVridAndNoIpv4VipSwitchesResignOff) {
  EXPECT_TRUE(ResignSelectable(51, {}).ok());
  EXPECT_TRUE(ResignSelectable(0, {kVip}).ok());
  const absl::Status off = ResignSelectable(0, {});
  EXPECT_EQ(off.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(off.message()), HasSubstr("vrid is unset and vip lists no IPv4 address"));
}

}  // namespace
}  // namespace carp_exec::failover
