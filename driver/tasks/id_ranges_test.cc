#include "driver/tasks/id_ranges.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

TEST(IdRangesTest, ParsesIdsAndRanges) {
  absl::StatusOr<IdRanges> ranges = IdRanges::Parse(" 0-100, 600 ,1000-1000");
  ASSERT_TRUE(ranges.ok()) << ranges.status();
  EXPECT_TRUE(ranges->Contains(0));
  EXPECT_TRUE(ranges->Contains(100));
  EXPECT_FALSE(ranges->Contains(101));
  EXPECT_TRUE(ranges->Contains(600));
  EXPECT_TRUE(ranges->Contains(1000));
  EXPECT_FALSE(ranges->Contains(4294967295u));
  EXPECT_EQ(ranges->ToString(), "0-100,600,1000");
  EXPECT_TRUE(IdRanges::Parse("")->empty());
}

TEST(IdRangesTest, RejectsGarbageNamingTheItem) {
  for (const char* bad : {"abc", "5-", "-5", "10-5", "1,,2", "1-2-3", "99999999999"}) {
    absl::StatusOr<IdRanges> ranges = IdRanges::Parse(bad);
    EXPECT_FALSE(ranges.ok()) << bad;
    EXPECT_EQ(ranges.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(absl::StrContains(IdRanges::Parse("0-10,x").status().message(), "\"x\""));
}

}  // namespace
}  // namespace carp_exec::tasks
