#include "driver/host/handshake.h"

#include <string>

#include "gtest/gtest.h"

namespace carp_exec::host {
namespace {

TEST(HandshakeTest, LineHasSixFieldsAndEndsWithNewline) {
  EXPECT_EQ(HandshakeLine(2, "unix", "/tmp/carp_exec-abc/plugin.sock"),
            "1|2|unix|/tmp/carp_exec-abc/plugin.sock|grpc|\n");
}

TEST(HandshakeTest, OfferedVersionTwoIsAccepted) {
  for (const char* offered : {"2", "1,2", " 2 ", "3,2,1"}) {
    const VersionChoice c = NegotiateAppProtocol(offered);
    EXPECT_EQ(c.version, 2) << offered;
    EXPECT_TRUE(c.warning.empty()) << offered;
  }
}

TEST(HandshakeTest, MissingListMeansOurVersionWithoutWarning) {
  EXPECT_TRUE(NegotiateAppProtocol(nullptr).warning.empty());
  EXPECT_TRUE(NegotiateAppProtocol("").warning.empty());
}

TEST(HandshakeTest, UnofferedVersionWarnsAndNamesTheOffer) {
  const VersionChoice c = NegotiateAppProtocol("1,3");
  EXPECT_EQ(c.version, 2);
  EXPECT_NE(c.warning.find("\"1,3\""), std::string::npos) << c.warning;
}

TEST(HandshakeTest, SocketPathLengthIsChecked) {
  EXPECT_TRUE(CheckUnixSocketPath("/tmp/x/plugin.sock").ok());
  // "/" followed by MaxUnixSocketPath() letters (g++ 12's -Wrestrict misreads "/" + std::string).
  std::string long_path(MaxUnixSocketPath() + 1, 'a');
  long_path[0] = '/';
  const absl::Status s = CheckUnixSocketPath(long_path);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("TMPDIR"), absl::string_view::npos);
}

}  // namespace
}  // namespace carp_exec::host
