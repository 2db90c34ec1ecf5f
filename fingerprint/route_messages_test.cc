// ParseRouteMessages against routing-socket bytes built from the kernels' struct layouts
// (fingerprint/testdata/*.hex, see testdata/README.md "Routing-socket messages").

#include "fingerprint/route_messages.h"

#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "fingerprint/testdata_reader.h"
#include "gtest/gtest.h"

namespace carp_exec::fingerprint {
namespace {

// The bytes of an annotated hex fixture: "# ..." lines and "  # field" tails are comments.
std::string HexFixture(const std::string& name) {
  std::string bytes;
  for (absl::string_view line : absl::StrSplit(ReadTestdata(name), '\n')) {
    line = line.substr(0, line.find('#'));
    for (absl::string_view word : absl::StrSplit(line, ' ', absl::SkipWhitespace())) {
      uint32_t value = 0;
      EXPECT_TRUE(absl::SimpleHexAtoi(word, &value) && value < 256) << name << ": " << word;
      bytes.push_back(static_cast<char>(value));
    }
  }
  return bytes;
}

TEST(RouteMessagesTest, OpenBsdCarpLinkStateIsItsState) {
  std::string backup = HexFixture("openbsd-rtm-ifinfo-carp1-backup.hex");
  ASSERT_EQ(backup.size(), 168u);
  absl::StatusOr<std::vector<RouteMessage>> parsed = ParseRouteMessages(CarpOs::kOpenBsd, backup);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].type, kRtmIfInfo);
  EXPECT_EQ((*parsed)[0].index, 6);
  EXPECT_EQ((*parsed)[0].link_state, 2);  // LINK_STATE_DOWN: BACKUP
  EXPECT_TRUE((*parsed)[0].Relevant(CarpOs::kOpenBsd));

  parsed = ParseRouteMessages(CarpOs::kOpenBsd, HexFixture("openbsd-rtm-ifinfo-carp1-master.hex"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].link_state, 4);  // LINK_STATE_UP: MASTER
}

TEST(RouteMessagesTest, OpenBsdNewAddrCarriesTheIfaAddress) {
  absl::StatusOr<std::vector<RouteMessage>> parsed =
      ParseRouteMessages(CarpOs::kOpenBsd, HexFixture("openbsd-rtm-newaddr-carp1.hex"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].type, kRtmNewAddr);
  EXPECT_EQ((*parsed)[0].index, 6);
  EXPECT_EQ((*parsed)[0].address, "192.0.2.10");
}

TEST(RouteMessagesTest, FreeBsdLayoutsDifferFromOpenBsd) {
  absl::StatusOr<std::vector<RouteMessage>> parsed =
      ParseRouteMessages(CarpOs::kFreeBsd, HexFixture("freebsd-rtm-deladdr-vtnet1-inet6.hex"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].type, kRtmDelAddr);
  EXPECT_EQ((*parsed)[0].index, 2);
  EXPECT_EQ((*parsed)[0].address, "2001:db8::10");

  parsed = ParseRouteMessages(CarpOs::kFreeBsd, HexFixture("freebsd-rtm-ifinfo-vtnet1-up.hex"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)[0].index, 2);
  EXPECT_EQ((*parsed)[0].link_state, 2);  // FreeBSD LINK_STATE_UP
}

TEST(RouteMessagesTest, SeveralMessagesInOneReadAndOtherVersionsSkipped) {
  std::string other_version = HexFixture("openbsd-rtm-ifinfo-carp1-master.hex");
  other_version[2] = 4;
  std::string bytes = HexFixture("openbsd-rtm-ifinfo-carp1-backup.hex") + other_version +
                      HexFixture("openbsd-rtm-newaddr-carp1.hex");
  absl::StatusOr<std::vector<RouteMessage>> parsed = ParseRouteMessages(CarpOs::kOpenBsd, bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].type, kRtmIfInfo);
  EXPECT_EQ((*parsed)[1].type, kRtmNewAddr);
}

TEST(RouteMessagesTest, RouteChangesMatterOnFreeBsdOnly) {
  RouteMessage deleted;
  deleted.type = kRtmDelete;  // carp_delroute of a vhid address going BACKUP
  EXPECT_TRUE(deleted.Relevant(CarpOs::kFreeBsd));
  EXPECT_FALSE(deleted.Relevant(CarpOs::kOpenBsd));
  RouteMessage desync;
  desync.type = kOpenBsdRtmDesync;
  EXPECT_TRUE(desync.Relevant(CarpOs::kOpenBsd));
}

TEST(RouteMessagesTest, TruncatedAndInconsistentMessagesAreErrors) {
  std::string ifinfo = HexFixture("openbsd-rtm-ifinfo-carp1-backup.hex");
  EXPECT_FALSE(ParseRouteMessages(CarpOs::kOpenBsd, ifinfo.substr(0, 100)).ok());  // msglen 168
  EXPECT_FALSE(ParseRouteMessages(CarpOs::kOpenBsd, ifinfo.substr(0, 3)).ok());
  std::string short_ifinfo = ifinfo.substr(0, 20);
  short_ifinfo[0] = 20;
  short_ifinfo[1] = 0;
  EXPECT_FALSE(ParseRouteMessages(CarpOs::kOpenBsd, short_ifinfo).ok());  // no link state byte
  std::string newaddr = HexFixture("openbsd-rtm-newaddr-carp1.hex");
  newaddr[4] = static_cast<char>(200);  // ifam_hdrlen past the end
  EXPECT_FALSE(ParseRouteMessages(CarpOs::kOpenBsd, newaddr).ok());
  std::string zero_length(8, '\0');
  EXPECT_FALSE(ParseRouteMessages(CarpOs::kFreeBsd, zero_length).ok());
}

TEST(RouteMessagesTest, RandomBytesNeverCrash) {
  std::mt19937 random(12);
  std::string base = HexFixture("openbsd-rtm-newaddr-carp1.hex");
  for (int round = 0; round < 2000; ++round) {
    std::string bytes = base;
    for (int flips = 0; flips < 4; ++flips) {
      bytes[random() % bytes.size()] = static_cast<char>(random() & 0xff);
    }
    for (CarpOs os : {CarpOs::kOpenBsd, CarpOs::kFreeBsd}) {
      (void)ParseRouteMessages(os, bytes);
    }
  }
}

}  // namespace
}  // namespace carp_exec::fingerprint
