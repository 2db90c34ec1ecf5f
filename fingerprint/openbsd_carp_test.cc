#include "fingerprint/openbsd_carp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fingerprint/testdata_reader.h"

namespace carp_exec::fingerprint {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(OpenBsdIfconfigTest, Master) {
  auto status = ParseOpenBsdIfconfig(ReadTestdata("openbsd-ifconfig-carp0-master.txt"));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->name, "carp0");
  ASSERT_EQ(status->vhids.size(), 1u);
  EXPECT_EQ(status->vhids[0].vhid, 1);
  EXPECT_EQ(status->vhids[0].state, VrrpState::kMaster);
  EXPECT_EQ(status->vhids[0].advbase, 1);
  EXPECT_EQ(status->vhids[0].advskew, 0);
  EXPECT_THAT(status->groups, ElementsAre("carp"));
  EXPECT_EQ(status->link_status, "master");
  ASSERT_EQ(status->addresses.size(), 1u);
  EXPECT_EQ(status->addresses[0].ip, "192.0.2.10");
  EXPECT_FALSE(status->addresses[0].vhid.has_value());
  EXPECT_EQ(status->carppeer, "");
}

TEST(OpenBsdIfconfigTest, DemotedBackupStillShowsConfiguredAdvskew) {
  auto status = ParseOpenBsdIfconfig(ReadTestdata("openbsd-ifconfig-carp0-backup-demoted.txt"));
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->vhids.size(), 1u);
  EXPECT_EQ(status->vhids[0].state, VrrpState::kBackup);
  EXPECT_EQ(status->vhids[0].advskew, 0);
  EXPECT_EQ(status->link_status, "backup");
  // The BACKUP keeps the VIP configured: the observer, not the parser, decides "held".
  ASSERT_EQ(status->addresses.size(), 1u);
  EXPECT_EQ(status->addresses[0].ip, "192.0.2.10");
}

TEST(OpenBsdIfconfigTest, Init) {
  auto status = ParseOpenBsdIfconfig(ReadTestdata("openbsd-ifconfig-carp0-init.txt"));
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->vhids.size(), 1u);
  EXPECT_EQ(status->vhids[0].state, VrrpState::kInit);
  EXPECT_EQ(status->link_status, "invalid");
}

TEST(OpenBsdIfconfigTest, UnicastPeerAndExtraGroup) {
  auto status =
      ParseOpenBsdIfconfig(ReadTestdata("openbsd-ifconfig-carp1-backup-unicast-peer.txt"));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->name, "carp1");
  ASSERT_EQ(status->vhids.size(), 1u);
  EXPECT_EQ(status->vhids[0].vhid, 2);
  EXPECT_EQ(status->vhids[0].state, VrrpState::kBackup);
  EXPECT_EQ(status->vhids[0].advskew, 100);
  EXPECT_EQ(status->carppeer, "192.0.2.11");
  EXPECT_THAT(status->groups, ElementsAre("carp", "edge"));
  EXPECT_EQ(status->addresses[0].ip, "192.0.2.20");
}

TEST(OpenBsdIfconfigTest, CarpnodesBalancing) {
  auto status =
      ParseOpenBsdIfconfig(ReadTestdata("openbsd-ifconfig-carp2-carpnodes-balancing.txt"));
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->vhids.size(), 2u);
  EXPECT_EQ(status->vhids[0].vhid, 3);
  EXPECT_EQ(status->vhids[0].state, VrrpState::kMaster);
  EXPECT_EQ(status->vhids[0].advbase, 1);
  EXPECT_EQ(status->vhids[0].advskew, 0);
  EXPECT_EQ(status->vhids[1].vhid, 4);
  EXPECT_EQ(status->vhids[1].state, VrrpState::kBackup);
  EXPECT_EQ(status->vhids[1].advskew, 100);
  EXPECT_EQ(status->StateOfVhid(4), VrrpState::kBackup);
  EXPECT_FALSE(status->StateOfVhid(5).has_value());
  EXPECT_EQ(status->link_status, "master");
}

TEST(OpenBsdIfconfigTest, CarpInterfaceWithoutVhidHasNoCarpLine) {
  auto status = ParseOpenBsdIfconfig(
      "carp5: flags=8802<BROADCAST,SIMPLEX,MULTICAST> mtu 1500\n"
      "\tlladdr 00:00:00:00:00:00\n\tgroups: carp\n\tstatus: invalid\n");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->vhids.empty());
}

TEST(OpenBsdIfconfigTest, Inet6WithScopeAndSpacesInsteadOfTabs) {
  auto status = ParseOpenBsdIfconfig(
      "carp0: flags=8843<UP> mtu 1500\n"
      "        carp:  MASTER  carpdev vio0 vhid 1 advbase 1 advskew 0\r\n"
      "\tinet6 fe80::200:5eff:fe00:101%carp0 prefixlen 64 scopeid 0x5\n"
      "\tinet6 2001:0db8:0:0::10 prefixlen 64\n");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->vhids[0].state, VrrpState::kMaster);
  ASSERT_EQ(status->addresses.size(), 2u);
  EXPECT_EQ(status->addresses[0].ip, "fe80::200:5eff:fe00:101");
  EXPECT_EQ(status->addresses[1].ip, "2001:db8::10");  // canonical form
}

TEST(OpenBsdIfconfigTest, GroupListingGivesEveryMember) {
  std::string both = ReadTestdata("openbsd-ifconfig-carp0-master.txt") +
                     ReadTestdata("openbsd-ifconfig-carp1-backup-unicast-peer.txt");
  auto list = ParseOpenBsdIfconfigList(both);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "carp0");
  EXPECT_EQ((*list)[1].name, "carp1");
  EXPECT_EQ((*list)[1].vhids[0].state, VrrpState::kBackup);
  // The single-interface parser refuses it and names both.
  auto one = ParseOpenBsdIfconfig(both);
  ASSERT_FALSE(one.ok());
  EXPECT_THAT(one.status().message(), HasSubstr("carp0, carp1"));
  EXPECT_TRUE(ParseOpenBsdIfconfigList("").ok());
  EXPECT_FALSE(ParseOpenBsdIfconfig("").ok());
}

TEST(OpenBsdIfconfigTest, ErrorsNameTheLine) {
  auto bad_state = ParseOpenBsdIfconfig(
      "carp0: flags=8843<UP> mtu 1500\n\tcarp: SLEEPING carpdev vio0 vhid 1 advbase 1 advskew 0\n");
  ASSERT_FALSE(bad_state.ok());
  EXPECT_THAT(bad_state.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(bad_state.status().message(), HasSubstr("SLEEPING"));

  // FAULT is keepalived's word, never CARP's.
  EXPECT_FALSE(
      ParseOpenBsdIfconfig("carp0: flags=8843<UP> mtu 1500\n\tcarp: FAULT carpdev vio0 vhid 1\n")
          .ok());
  auto huge = ParseOpenBsdIfconfig(
      "carp0: flags=8843<UP> mtu 1500\n"
      "\tcarp: MASTER carpdev vio0 vhid 99999999999999999999 advbase 1 advskew 0\n");
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(huge.status().message(), HasSubstr("vhid"));
  EXPECT_FALSE(
      ParseOpenBsdIfconfig("carp0: flags=8843<UP> mtu 1500\n\tcarp: MASTER carpdev vio0 vhid 256\n")
          .ok());
  EXPECT_FALSE(ParseOpenBsdIfconfig(
                   "carp0: flags=8843<UP> mtu 1500\n\tcarp: MASTER carpdev vio0 advbase 1\n")
                   .ok());  // no vhid
  EXPECT_FALSE(
      ParseOpenBsdIfconfig("carp0: flags=8843<UP> mtu 1500\n\tcarp: MASTER carpdev vio0 vhid\n")
          .ok());  // truncated
  EXPECT_FALSE(ParseOpenBsdIfconfig("carp0: flags=8843<UP> mtu 1500\n\tinet 192.0.2.300\n").ok());
  auto not_ifconfig = ParseOpenBsdIfconfig("ifconfig: carp9: no such interface\n");
  ASSERT_FALSE(not_ifconfig.ok());
  EXPECT_THAT(not_ifconfig.status().message(), HasSubstr("line 1"));
  EXPECT_FALSE(ParseOpenBsdIfconfig("\tcarp: MASTER carpdev vio0 vhid 1\n").ok());
}

TEST(OpenBsdDemoteTest, Fixtures) {
  EXPECT_EQ(*ParseOpenBsdDemoteCount(ReadTestdata("openbsd-ifconfig-g-carp-0.txt")), 0);
  EXPECT_EQ(*ParseOpenBsdDemoteCount(ReadTestdata("openbsd-ifconfig-g-carp-50.txt")), 50);
}

TEST(OpenBsdDemoteTest, GroupNameIsTheFirstWord) {
  auto parsed = ParseOpenBsdGroupDemote("edge: carp demote count 128\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->group, "edge");
  EXPECT_EQ(parsed->demote_count, 128);
  EXPECT_EQ(*ParseOpenBsdDemoteCount("\n  edge:\tcarp  demote count 7"), 7);
}

TEST(OpenBsdDemoteTest, RejectsGarbage) {
  for (const char* text : {"", "\n", "carp: carp demote count", "carp: carp demote count -1",
                           "carp: carp demote count 5x", "carp carp demote count 5",
                           "carp: carp demote count 99999999999999999999",
                           "carp: carp demote count 1\ncarp: carp demote count 2",
                           "ifconfig: edge: SIOCGIFGATTR: Invalid argument"}) {
    auto parsed = ParseOpenBsdDemoteCount(text);
    EXPECT_FALSE(parsed.ok()) << text;
  }
  auto parsed = ParseOpenBsdDemoteCount("carp: carp demote count many\n");
  EXPECT_THAT(parsed.status().message(), HasSubstr("many"));
  EXPECT_THAT(parsed.status().message(), HasSubstr("is not \"GROUP: carp demote count N\""));
  EXPECT_THAT(ParseOpenBsdDemoteCount("\n").status().message(),
              HasSubstr("OpenBSD `ifconfig -g GROUP` output is empty"));
  auto two = ParseOpenBsdDemoteCount("edge: carp demote count 1\nedge: carp demote count 2");
  EXPECT_THAT(two.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(two.status().message(), HasSubstr("follows the value; expected one line"));
}

}  // namespace
}  // namespace carp_exec::fingerprint
