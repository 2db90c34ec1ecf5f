#include "tests/host/hclog_line.h"

#include "driver/log/hclog.h"
#include "gtest/gtest.h"

namespace carp_exec::test_host {
namespace {

TEST(HclogLineTest, AcceptsTheReferenceExample) {
  absl::StatusOr<HclogEntry> entry =
      ParseHclogLine(R"({"@level":"info","@message":"failover confirmed","@module":"carp_exec",)"
                     R"("@timestamp":"2026-08-21T10:15:30.123456Z","vip":"192.0.2.10"})");
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->level, "info");
  EXPECT_EQ(entry->message, "failover confirmed");
  EXPECT_EQ(entry->module, "carp_exec");
  EXPECT_EQ(entry->fields.at("vip"), "192.0.2.10");
}

TEST(HclogLineTest, AcceptsOffsetsAndUpperCaseLevel) {
  EXPECT_TRUE(ParseHclogLine(R"({"@level":"WARN","@message":"m","@module":"x",)"
                             R"("@timestamp":"2026-08-21T10:15:30.000001+02:00"})")
                  .ok());
}

TEST(HclogLineTest, RejectsWhatTheAgentMisreads) {
  // Not JSON, wrong types, wrong fraction digits, unknown level, no module.
  EXPECT_FALSE(ParseHclogLine("plain text").ok());
  EXPECT_FALSE(ParseHclogLine(R"({"@level":"info","@message":5,"@module":"x",)"
                              R"("@timestamp":"2026-08-21T10:15:30.123456Z"})")
                   .ok());
  EXPECT_FALSE(ParseHclogLine(R"({"@level":"info","@message":"m","@module":"x",)"
                              R"("@timestamp":"2026-08-21T10:15:30.123Z"})")
                   .ok());
  EXPECT_FALSE(ParseHclogLine(R"({"@level":"info","@message":"m","@module":"x",)"
                              R"("@timestamp":"2026-08-21T10:15:30.123456789Z"})")
                   .ok());
  EXPECT_FALSE(ParseHclogLine(R"({"@level":"notice","@message":"m","@module":"x",)"
                              R"("@timestamp":"2026-08-21T10:15:30.123456Z"})")
                   .ok());
  EXPECT_FALSE(ParseHclogLine(R"({"@level":"info","@message":"m",)"
                              R"("@timestamp":"2026-08-21T10:15:30.123456Z"})")
                   .ok());
  EXPECT_FALSE(ParseHclogLine(R"({"@level":"info","@message":"m","@module":"x",)"
                              R"("@timestamp":"2026-13-41T10:15:30.123456Z"})")
                   .ok());
}

// The plugin's writer and this reader must agree, including on hostile values.
TEST(HclogLineTest, AcceptsEveryLineThePluginLoggerFormats) {
  const absl::Time when = absl::FromUnixMicros(1787400930123000);  // .123000: trailing zeros kept
  for (absl::string_view message :
       {absl::string_view("plain"), absl::string_view("quote \" \\"),
        absl::string_view("ctl \x01\n\t"), absl::string_view("bad utf8 \xff\xfe")}) {
    const std::string line =
        log::FormatLine(when, log::Level::kError, "carp_exec", message, {{"key", message}});
    absl::StatusOr<HclogEntry> entry = ParseHclogLine(line);
    ASSERT_TRUE(entry.ok()) << entry.status();
    EXPECT_EQ(entry->time, when);
  }
}

}  // namespace
}  // namespace carp_exec::test_host
