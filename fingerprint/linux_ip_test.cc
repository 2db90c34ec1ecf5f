#include "fingerprint/linux_ip.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fingerprint/testdata_reader.h"

namespace carp_exec::fingerprint {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(IpAddrOnelineTest, MasterHasTheVip) {
  auto addresses = ParseIpAddrOneline(ReadTestdata("linux-ip-addr-master.txt"));
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_THAT(*addresses, ElementsAre("10.231.0.11", "10.231.0.10"));
}

TEST(IpAddrOnelineTest, BackupDoesNot) {
  auto addresses = ParseIpAddrOneline(ReadTestdata("linux-ip-addr-backup.txt"));
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_THAT(*addresses, ElementsAre("10.231.0.12"));
}

TEST(IpAddrOnelineTest, AllInterfacesBothFamilies) {
  auto entries = ParseIpAddrOnelineEntries(
      "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
      "1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever\n"
      "5: veth0@if4    inet 10.0.0.1 peer 10.0.0.2/32 scope global veth0\\       valid_lft "
      "forever preferred_lft forever\n"
      "4: eth0    inet6 2001:0db8::0010/64 scope global nodad \\       valid_lft forever\n");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 4u);
  EXPECT_EQ((*entries)[0].interface, "lo");
  EXPECT_EQ((*entries)[1].family, "inet6");
  EXPECT_EQ((*entries)[1].address, "::1");
  EXPECT_EQ((*entries)[2].interface, "veth0");
  EXPECT_EQ((*entries)[2].address, "10.0.0.1");  // local side of a point-to-point address
  EXPECT_EQ((*entries)[3].address, "2001:db8::10");
}

TEST(IpAddrOnelineTest, EmptyMeansNoAddresses) {
  auto addresses = ParseIpAddrOneline("");
  ASSERT_TRUE(addresses.ok());
  EXPECT_TRUE(addresses->empty());
  EXPECT_TRUE(ParseIpAddrOneline("\n\n").ok());
}

TEST(IpAddrOnelineTest, RejectsGarbage) {
  for (const char* text :
       {"Device \"eth9\" does not exist.", "2: eth0    link/ether 02:00:00:00:00:01 brd ff:ff",
        "2: eth0    inet", "2: eth0    inet 10.231.0.999/24", "x: eth0    inet 10.0.0.1/8 a",
        "2: eth0    inet6 10.0.0.1/8 scope", "2: eth0    inet fe80::1/64 scope",
        "2 eth0 inet 10.0.0.1/8 scope", "99999999999: eth0 inet 10.0.0.1/8 x"}) {
    EXPECT_FALSE(ParseIpAddrOneline(text).ok()) << text;
  }
  auto bad = ParseIpAddrOneline(
      "2: eth0    inet 10.231.0.11/24 scope global eth0\n2: eth0    inet banana/24 x\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(bad.status().message(), HasSubstr("banana"));
}

}  // namespace
}  // namespace carp_exec::fingerprint
