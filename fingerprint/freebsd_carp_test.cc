#include "fingerprint/freebsd_carp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fingerprint/testdata_reader.h"

namespace carp_exec::fingerprint {
namespace {

using ::testing::HasSubstr;

TEST(FreeBsdIfconfigTest, Master) {
  auto status = ParseFreeBsdIfconfig(ReadTestdata("freebsd-ifconfig-vtnet1-master.txt"));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->name, "vtnet1");
  ASSERT_EQ(status->vhids.size(), 1u);
  EXPECT_EQ(status->vhids[0].vhid, 1);
  EXPECT_EQ(status->vhids[0].state, VrrpState::kMaster);
  EXPECT_EQ(status->vhids[0].advbase, 1);
  EXPECT_EQ(status->vhids[0].advskew, 0);
  EXPECT_EQ(status->carppeer, "224.0.0.18");
  EXPECT_EQ(status->link_status, "active");
  ASSERT_EQ(status->addresses.size(), 2u);
  EXPECT_EQ(status->addresses[0].ip, "192.0.2.11");
  EXPECT_FALSE(status->addresses[0].vhid.has_value());  // the node's own address
  EXPECT_EQ(status->addresses[1].ip, "192.0.2.10");
  EXPECT_EQ(status->addresses[1].vhid, 1);
}

TEST(FreeBsdIfconfigTest, Backup) {
  auto status = ParseFreeBsdIfconfig(ReadTestdata("freebsd-ifconfig-vtnet1-backup.txt"));
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->vhids.size(), 1u);
  EXPECT_EQ(status->vhids[0].state, VrrpState::kBackup);
  EXPECT_EQ(status->vhids[0].advskew, 100);
  EXPECT_EQ(status->StateOfVhid(1), VrrpState::kBackup);
  EXPECT_EQ(status->addresses[1].vhid, 1);
}

TEST(FreeBsdIfconfigTest, FreeBsd13SeveralVhidsAndInet6) {
  auto status = ParseFreeBsdIfconfig(
      "em0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n"
      "\tinet 192.0.2.11 netmask 0xffffff00 broadcast 192.0.2.255\n"
      "\tinet 192.0.2.10 netmask 0xffffff00 broadcast 192.0.2.255 vhid 1\n"
      "\tinet6 fe80::1%em0 prefixlen 64 scopeid 0x1\n"
      "\tinet6 2001:db8::10 prefixlen 64 vhid 2\n"
      "\tcarp: MASTER vhid 1 advbase 1 advskew 0\n"
      "\tcarp: BACKUP vhid 2 advbase 2 advskew 240\n");
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->vhids.size(), 2u);
  EXPECT_EQ(status->StateOfVhid(1), VrrpState::kMaster);
  EXPECT_EQ(status->StateOfVhid(2), VrrpState::kBackup);
  EXPECT_EQ(status->vhids[1].advbase, 2);
  EXPECT_EQ(status->vhids[1].advskew, 240);
  ASSERT_EQ(status->addresses.size(), 4u);
  EXPECT_EQ(status->addresses[2].ip, "fe80::1");
  EXPECT_EQ(status->addresses[3].ip, "2001:db8::10");
  EXPECT_EQ(status->addresses[3].vhid, 2);
  EXPECT_EQ(status->carppeer, "");
}

TEST(FreeBsdIfconfigTest, InterfaceWithoutCarp) {
  auto status = ParseFreeBsdIfconfig(
      "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> metric 0 mtu 16384\n"
      "\tinet 127.0.0.1 netmask 0xff000000\n");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->vhids.empty());
}

TEST(FreeBsdIfconfigTest, ListKeepsOrder) {
  auto list = ParseFreeBsdIfconfigList(
      ReadTestdata("freebsd-ifconfig-vtnet1-master.txt") +
      "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> metric 0 mtu 16384\n");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].name, "lo0");
}

TEST(FreeBsdIfconfigTest, ErrorsNameTheLine) {
  const std::string header = "vtnet1: flags=8843<UP> metric 0 mtu 1500\n";
  auto bad = ParseFreeBsdIfconfig(header + "\tcarp: MAYBE vhid 1 advbase 1 advskew 0\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(bad.status().message(), HasSubstr("MAYBE"));
  EXPECT_FALSE(ParseFreeBsdIfconfig(header + "\tcarp: MASTER advbase 1 advskew 0\n").ok());
  EXPECT_FALSE(ParseFreeBsdIfconfig(header + "\tcarp: MASTER vhid 0 advbase 1\n").ok());
  EXPECT_FALSE(ParseFreeBsdIfconfig(header + "\tcarp: MASTER vhid 1 advskew 255\n").ok());
  EXPECT_FALSE(ParseFreeBsdIfconfig(header + "\tcarp: MASTER vhid 1 advbase\n").ok());
  EXPECT_FALSE(ParseFreeBsdIfconfig(header + "\tcarp:\n").ok());
  EXPECT_FALSE(ParseFreeBsdIfconfig(header + "\tinet 192.0.2.10 netmask 0xffffff00 vhid\n").ok());
  EXPECT_FALSE(ParseFreeBsdIfconfig(header + "\tinet 192.0.2.10 vhid x\n").ok());
  EXPECT_FALSE(ParseFreeBsdIfconfig(header + "\tinet\n").ok());
  EXPECT_FALSE(ParseFreeBsdIfconfig(header + "\tpeer\n").ok());
}

TEST(FreeBsdDemotionTest, Fixtures) {
  EXPECT_EQ(*ParseFreeBsdDemotion(ReadTestdata("freebsd-sysctl-carp-demotion-0.txt")), 0);
  EXPECT_EQ(*ParseFreeBsdDemotion(ReadTestdata("freebsd-sysctl-carp-demotion-240.txt")), 240);
}

TEST(FreeBsdDemotionTest, ValueOnlyAndNegative) {
  EXPECT_EQ(*ParseFreeBsdDemotion("50\n"), 50);
  EXPECT_EQ(*ParseFreeBsdDemotion("net.inet.carp.demotion:\t-10"), -10);
}

TEST(FreeBsdDemotionTest, RejectsGarbage) {
  for (const char* text : {"", "  \n", "net.inet.carp.demotion:", "net.inet.carp.demotion: x",
                           "net.inet.carp.preempt: 1", "net.inet.carp.demotion: 1 2",
                           "net.inet.carp.demotion: 99999999999", "1\n2\n",
                           "sysctl: unknown oid 'net.inet.carp.demotion'"}) {
    EXPECT_FALSE(ParseFreeBsdDemotion(text).ok()) << text;
  }
  auto bad = ParseFreeBsdDemotion("\nnet.inet.carp.preempt: 1\n");
  EXPECT_THAT(bad.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(bad.status().message(), HasSubstr("is not \"net.inet.carp.demotion: N\""));
  EXPECT_THAT(ParseFreeBsdDemotion("  \n").status().message(), HasSubstr("kldload carp"));
  auto two = ParseFreeBsdDemotion("1\n2\n");
  EXPECT_THAT(two.status().message(), HasSubstr("line 2 \"2\" follows the value"));
}

}  // namespace
}  // namespace carp_exec::fingerprint
