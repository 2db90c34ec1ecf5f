#include "driver/log/hclog.h"

#include <string>

#include "gtest/gtest.h"

namespace carp_exec::log {
namespace {

TEST(HclogTest, LineHasStringFieldsAndSixFractionDigits) {
  const absl::Time t = absl::FromUnixMicros(1795697743930964);
  const std::string line =
      FormatLine(t, Level::kInfo, "carp_exec", "failover confirmed", {{"vip", "192.0.2.10"}});
  EXPECT_EQ(line,
            "{\"@level\":\"info\",\"@message\":\"failover confirmed\",\"@module\":\"carp_exec\","
            "\"@timestamp\":\"2026-11-26T12:55:43.930964Z\",\"vip\":\"192.0.2.10\"}");
}

TEST(HclogTest, WholeSecondStillHasSixDigits) {
  const std::string line = FormatLine(absl::FromUnixSeconds(0), Level::kWarn, "m", "x", {});
  EXPECT_NE(line.find("\"@timestamp\":\"1970-01-01T00:00:00.000000Z\""), std::string::npos) << line;
}

TEST(HclogTest, EscapesControlQuotesAndInvalidUtf8) {
  std::string out;
  AppendJsonEscaped(&out, std::string("a\"b\\c\n\x01\xff\xc3\xa9", 10));
  EXPECT_EQ(out, "a\\\"b\\\\c\\n\\u0001\\ufffd\xc3\xa9");
}

TEST(HclogTest, ReservedKeysAreDropped) {
  const std::string line = FormatLine(absl::UnixEpoch(), Level::kError, "m", "x",
                                      {{"@level", "1"}, {"", "y"}, {"task_id", "t"}});
  EXPECT_EQ(line.find("\"@level\":\"1\""), std::string::npos);
  EXPECT_NE(line.find("\"task_id\":\"t\""), std::string::npos);
}

TEST(HclogTest, ParseLevelAcceptsAnyCase) {
  Level level = Level::kInfo;
  EXPECT_TRUE(ParseLevel("DEBUG", &level));
  EXPECT_EQ(level, Level::kDebug);
  EXPECT_TRUE(ParseLevel("Warn", &level));
  EXPECT_EQ(level, Level::kWarn);
  EXPECT_FALSE(ParseLevel("verbose", &level));
  EXPECT_EQ(level, Level::kWarn);
}

}  // namespace
}  // namespace carp_exec::log
