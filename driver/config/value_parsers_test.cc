#include "driver/config/value_parsers.h"

#include "gtest/gtest.h"

namespace carp_exec::config {
namespace {

TEST(IdRangesTest, ParsesRawExecSyntax) {
  absl::StatusOr<std::vector<IdRange>> ranges = ParseIdRanges("0-100, 600,1000-1000");
  ASSERT_TRUE(ranges.ok()) << ranges.status();
  EXPECT_EQ(*ranges, (std::vector<IdRange>{{0, 100}, {600, 600}, {1000, 1000}}));
  EXPECT_TRUE(ParseIdRanges("")->empty());
  EXPECT_TRUE(ParseIdRanges("  ")->empty());
  EXPECT_EQ(*ParseIdRanges("4294967295"), (std::vector<IdRange>{{4294967295u, 4294967295u}}));
}

TEST(IdRangesTest, Errors) {
  const std::pair<const char*, const char*> cases[] = {
      {"0-100,,600",
       "\"0-100,,600\" has an empty item; write ids and inclusive ranges like "
       "\"0-100,600\""},
      {"root",
       "\"root\" has \"root\", not an id; write ids and inclusive ranges like "
       "\"0-100,600\""},
      {"5-", "\"5-\" has \"5-\", not a range; write ids and inclusive ranges like \"0-100,600\""},
      {"-5", "\"-5\" has \"-5\", not a range; write ids and inclusive ranges like \"0-100,600\""},
      {"100-0",
       "\"100-0\" has the range \"100-0\" whose end is below its start; write it "
       "low-high"},
      {"4294967296",
       "\"4294967296\" has \"4294967296\", not an id; write ids and inclusive "
       "ranges like \"0-100,600\""},
  };
  for (const auto& [text, message] : cases) {
    absl::StatusOr<std::vector<IdRange>> ranges = ParseIdRanges(text);
    ASSERT_FALSE(ranges.ok()) << text;
    EXPECT_EQ(ranges.status().message(), message);
  }
}

TEST(IpAddressTest, ParsesAndCanonicalises) {
  absl::StatusOr<IpAddress> v4 = ParseIpAddress("192.0.2.10");
  ASSERT_TRUE(v4.ok());
  EXPECT_FALSE(v4->is_v6);
  EXPECT_EQ(v4->text, "192.0.2.10");
  EXPECT_EQ(v4->bytes[0], 192);
  absl::StatusOr<IpAddress> v6 = ParseIpAddress("2001:DB8:0:0::10");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->is_v6);
  EXPECT_EQ(v6->text, "2001:db8::10");
  EXPECT_EQ(*v6, *ParseIpAddress("2001:db8::10"));
}

TEST(IpAddressTest, Errors) {
  EXPECT_EQ(ParseIpAddress("192.0.2.10/24").status().message(),
            "\"192.0.2.10/24\" has a prefix length; write the address alone, e.g. "
            "\"192.0.2.10\"");
  for (const char* bad :
       {"", "192.0.2", "192.0.2.256", "example.com", "fe80::1%eth0", " 1.2.3.4"}) {
    absl::StatusOr<IpAddress> address = ParseIpAddress(bad);
    ASSERT_FALSE(address.ok()) << bad;
    EXPECT_NE(address.status().message().find("is not an IP address; write e.g."),
              std::string::npos);
  }
  EXPECT_FALSE(ParseIpAddress(std::string("1.2.3.4\0x", 9)).ok());
}

TEST(HostPortTest, ParsesHostAndPort) {
  EXPECT_EQ(*ParseHostPort("127.0.0.1:443"), (HostPort{"127.0.0.1", 443}));
  EXPECT_EQ(*ParseHostPort("[::1]:8080"), (HostPort{"::1", 8080}));
  EXPECT_EQ(*ParseHostPort("localhost:1"), (HostPort{"localhost", 1}));
  EXPECT_EQ(ParseHostPort("127.0.0.1").status().message(),
            "\"127.0.0.1\" has no port; write host:port, e.g. \"127.0.0.1:443\" or "
            "\"[::1]:443\"");
  EXPECT_EQ(ParseHostPort("127.0.0.1:0").status().message(),
            "\"127.0.0.1:0\" has the port \"0\"; a port is a number from 1 to 65535; write "
            "host:port, e.g. \"127.0.0.1:443\" or \"[::1]:443\"");
  EXPECT_FALSE(ParseHostPort("127.0.0.1:65536").ok());
  EXPECT_FALSE(ParseHostPort(":80").ok());
  EXPECT_FALSE(ParseHostPort("::1:80").ok());
  EXPECT_FALSE(ParseHostPort("[1.2.3.4]:80").ok());
  EXPECT_FALSE(ParseHostPort("a b:80").ok());
}

TEST(HttpProbeUrlTest, ParsesHttpUrls) {
  absl::StatusOr<HttpProbeUrl> url = ParseHttpProbeUrl("http://127.0.0.1:8080/ping");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->address, (HostPort{"127.0.0.1", 8080}));
  EXPECT_EQ(url->target, "/ping");
  EXPECT_EQ(ParseHttpProbeUrl("http://[::1]:80")->target, "/");
  EXPECT_EQ(ParseHttpProbeUrl("http://h:80?x=1")->target, "/?x=1");
  EXPECT_EQ(ParseHttpProbeUrl("https://127.0.0.1:443/").status().message(),
            "\"https://127.0.0.1:443/\" must start with http:// (https is not supported); write "
            "e.g. \"http://127.0.0.1:8080/ping\"");
  EXPECT_EQ(ParseHttpProbeUrl("http://127.0.0.1/ping").status().message(),
            "\"http://127.0.0.1/ping\" needs host:port after http://: \"127.0.0.1\" has no port; "
            "write host:port, e.g. \"127.0.0.1:443\" or \"[::1]:443\"");
  EXPECT_FALSE(ParseHttpProbeUrl("http://u@h:80/").ok());
  EXPECT_FALSE(ParseHttpProbeUrl("http://h:80/a b").ok());
  EXPECT_FALSE(ParseHttpProbeUrl("http://h:80/#frag").ok());
}

TEST(PathAndNameChecksTest, Work) {
  EXPECT_TRUE(CheckAbsolutePath("/var/lib/carp_exec").ok());
  EXPECT_EQ(CheckAbsolutePath("var/lib").status().message(),
            "\"var/lib\" is not an absolute path; write a path that starts with /");
  EXPECT_TRUE(CheckOptionalAbsolutePath("")->empty());
  EXPECT_TRUE(CheckInterfaceName("carp0").ok());
  EXPECT_FALSE(CheckInterfaceName("a_very_long_name0").ok());
  EXPECT_FALSE(CheckInterfaceName("").ok());
  EXPECT_FALSE(CheckInterfaceName("eth 0").ok());
  EXPECT_TRUE(CheckInterfaceGroup("carp").ok());
  EXPECT_EQ(CheckInterfaceGroup("carp1").status().message(),
            "\"carp1\" is not an interface group name; use 1 to 15 letters, digits, '.', '_' or "
            "'-', not ending in a digit, e.g. \"edge\"");
}

}  // namespace
}  // namespace carp_exec::config
