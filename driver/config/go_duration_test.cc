#include "driver/config/go_duration.h"

#include "gtest/gtest.h"

namespace carp_exec::config {
namespace {

TEST(GoDurationTest, ParsesGoSyntax) {
  const std::pair<const char*, absl::Duration> cases[] = {
      {"10s", absl::Seconds(10)},
      {"50ms", absl::Milliseconds(50)},
      {"1m30s", absl::Seconds(90)},
      {"250ms", absl::Milliseconds(250)},
      {"0s", absl::ZeroDuration()},
      {"0", absl::ZeroDuration()},
      {"-0", absl::ZeroDuration()},
      {"1.5h", absl::Minutes(90)},
      {".5s", absl::Milliseconds(500)},
      {"1.s", absl::Seconds(1)},
      {"-2s", absl::Seconds(-2)},
      {"+3ms", absl::Milliseconds(3)},
      {"1h2m3s4ms5us6ns", absl::Hours(1) + absl::Minutes(2) + absl::Seconds(3) +
                              absl::Milliseconds(4) + absl::Microseconds(5) + absl::Nanoseconds(6)},
      {"7\xC2\xB5s", absl::Microseconds(7)},
      {"7\xCE\xBCs", absl::Microseconds(7)},
      {"0.000000001s", absl::Nanoseconds(1)},
      {"1.0000000000000000000001s", absl::Seconds(1)},
      {"9223372036854775807ns", absl::Nanoseconds(9223372036854775807LL)},
      {"-9223372036854775808ns", absl::Nanoseconds(std::numeric_limits<int64_t>::min())},
  };
  for (const auto& [text, expected] : cases) {
    absl::StatusOr<absl::Duration> d = ParseGoDuration(text);
    ASSERT_TRUE(d.ok()) << text << ": " << d.status();
    EXPECT_EQ(*d, expected) << text;
  }
}

TEST(GoDurationTest, ErrorsSayWhatIsWrong) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "\"\" is not a duration: it is empty; write e.g. \"10s\" or \"250ms\""},
      {"10",
       "\"10\" is not a duration: the number \"10\" has no unit; add one of ns, us, ms, s, "
       "m, h (e.g. \"10s\")"},
      {"10x", "\"10x\" is not a duration: unknown unit \"x\"; use ns, us, ms, s, m or h"},
      {"10 s", "\"10 s\" is not a duration: unknown unit \" s\"; use ns, us, ms, s, m or h"},
      {"s", "\"s\" is not a duration: expected a number before \"s\"; write e.g. \"1m30s\""},
      {"-", "\"-\" is not a duration: a sign alone has no value; write e.g. \"-5s\""},
      {"1s.", "\"1s.\" is not a duration: expected a number before \".\"; write e.g. \"1m30s\""},
      {"9223372036854775808ns",
       "\"9223372036854775808ns\" is not a duration: it is too long; durations stop at about 292 "
       "years"},
      {"3000000h",
       "\"3000000h\" is not a duration: it is too long; durations stop at about 292 "
       "years"},
      {"99999999999999999999999s",
       "\"99999999999999999999999s\" is not a duration: it is too "
       "long; durations stop at about 292 years"},
  };
  for (const auto& [text, message] : cases) {
    absl::StatusOr<absl::Duration> d = ParseGoDuration(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.status().message(), message);
  }
}

TEST(GoDurationTest, FormatsLikeGo) {
  EXPECT_EQ(FormatGoDuration(absl::Seconds(90)), "1m30s");
  EXPECT_EQ(FormatGoDuration(absl::Milliseconds(50)), "50ms");
  EXPECT_EQ(FormatGoDuration(absl::ZeroDuration()), "0s");
}

}  // namespace
}  // namespace carp_exec::config
