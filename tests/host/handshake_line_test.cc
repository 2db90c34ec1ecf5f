#include "tests/host/handshake_line.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace carp_exec::test_host {
namespace {

const std::vector<int> kNomad = {2};

TEST(HandshakeLineTest, AcceptsGoPluginSixFieldLine) {
  absl::StatusOr<Handshake> h = ParseHandshake("1|2|unix|/tmp/plugin2816352|grpc|\n", kNomad);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->core_version, 1);
  EXPECT_EQ(h->app_version, 2);
  EXPECT_EQ(h->network, "unix");
  EXPECT_EQ(h->address, "/tmp/plugin2816352");
  EXPECT_EQ(h->protocol, "grpc");
  EXPECT_EQ(h->server_cert, "");
  EXPECT_EQ(h->field_count, 6u);
  EXPECT_EQ(GrpcTarget(*h), "unix:/tmp/plugin2816352");
}

TEST(HandshakeLineTest, AcceptsFiveFieldTcpLine) {
  absl::StatusOr<Handshake> h = ParseHandshake("  1|2|tcp|127.0.0.1:10000|grpc \r\n", kNomad);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(GrpcTarget(*h), "ipv4:127.0.0.1:10000");
  EXPECT_FALSE(h->mux.has_value());
}

TEST(HandshakeLineTest, KeepsMuxField) {
  absl::StatusOr<Handshake> h = ParseHandshake("1|2|unix|/s|grpc||true", kNomad);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->mux, "true");
}

TEST(HandshakeLineTest, RejectsWhatTheHostRejects) {
  EXPECT_FALSE(ParseHandshake("1|2|unix", kNomad).ok());            // < 4 fields
  EXPECT_FALSE(ParseHandshake("2|2|unix|/s|grpc", kNomad).ok());    // core 2
  EXPECT_FALSE(ParseHandshake("x|2|unix|/s|grpc", kNomad).ok());    // core not int
  EXPECT_FALSE(ParseHandshake("1|1|unix|/s|grpc", kNomad).ok());    // app not offered
  EXPECT_FALSE(ParseHandshake("1|2|udp|/s|grpc", kNomad).ok());     // network
  EXPECT_FALSE(ParseHandshake("1|2|unix|/s", kNomad).ok());         // netrpc implied
  EXPECT_FALSE(ParseHandshake("1|2|unix|/s|netrpc", kNomad).ok());  // netrpc
  EXPECT_FALSE(ParseHandshake("1|2|unix||grpc", kNomad).ok());      // empty address
  EXPECT_FALSE(ParseHandshake("", kNomad).ok());
}

TEST(HandshakeLineTest, IncompatibleVersionMessageNamesBothSides) {
  absl::StatusOr<Handshake> h = ParseHandshake("1|2|unix|/s|grpc", std::vector<int>{1});
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("APP=2"), absl::string_view::npos) << h.status();
  EXPECT_NE(h.status().message().find("[1]"), absl::string_view::npos) << h.status();
}

TEST(HandshakeLineTest, RejectsLinesBeyondTheScannerLimit) {
  std::string line = "1|2|unix|/" + std::string(kHandshakeLineLimit, 'a') + "|grpc";
  EXPECT_FALSE(ParseHandshake(line, kNomad).ok());
}

TEST(HandshakeLineTest, OfferedVersionsSkipNonIntegers) {
  EXPECT_EQ(ParseOfferedVersions("1,2"), (std::vector<int>{1, 2}));
  EXPECT_EQ(ParseOfferedVersions("2"), (std::vector<int>{2}));
  EXPECT_EQ(ParseOfferedVersions("x,3"), (std::vector<int>{3}));
  EXPECT_TRUE(ParseOfferedVersions("").empty());
}

}  // namespace
}  // namespace carp_exec::test_host
