// MonitorLineTime: the stamp `ip -o -ts monitor address` puts in front of each kernel address
// event, the witness of VIP moves in failover_e2e (and, read by vip_moves.py, in the demo).

#include "tests/failover/observers.h"

#include <gtest/gtest.h>

namespace carp_exec::failover_test {
namespace {

TEST(MonitorLineTime, ReadsIpsUtcStampWithMicroseconds) {
  std::optional<absl::Time> t = MonitorLineTime(
      "[2026-12-02T05:57:09.613828] 2: eth0    inet 10.231.0.10/24 scope global secondary eth0");
  ASSERT_TRUE(t.has_value());
  // 2026-12-02T05:57:09Z is unix 1796191029.
  EXPECT_EQ(*t, absl::FromUnixSeconds(1796191029) + absl::Microseconds(613828));
}

TEST(MonitorLineTime, ADeletedLineHasItsStampToo) {
  std::optional<absl::Time> t =
      MonitorLineTime("[2026-12-02T05:57:09.616425] Deleted 2: eth0    inet 10.231.0.10/24");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, absl::FromUnixSeconds(1796191029) + absl::Microseconds(616425));
}

TEST(MonitorLineTime, LinesWithoutAStampAreNotGivenOne) {
  EXPECT_FALSE(MonitorLineTime("2: eth0    inet 10.231.0.10/24 scope global eth0").has_value());
  EXPECT_FALSE(MonitorLineTime("[2026-12-02T05:57:09.6 2: eth0").has_value());
  EXPECT_FALSE(MonitorLineTime("[yesterday] 2: eth0").has_value());
  EXPECT_FALSE(MonitorLineTime("").has_value());
}

}  // namespace
}  // namespace carp_exec::failover_test
