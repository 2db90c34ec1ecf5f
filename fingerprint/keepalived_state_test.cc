#include "fingerprint/keepalived_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fingerprint/testdata_reader.h"

namespace carp_exec::fingerprint {
namespace {

using ::testing::HasSubstr;

TEST(StateFileTest, NotifyHookFixture) {
  auto state = ParseStateFile(ReadTestdata("linux-notify-state.txt"));
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, VrrpState::kMaster);
}

TEST(StateFileTest, Forms) {
  EXPECT_EQ(*ParseStateFile("BACKUP"), VrrpState::kBackup);
  EXPECT_EQ(*ParseStateFile("\n  fault\r\n"), VrrpState::kFault);
  EXPECT_EQ(*ParseStateFile("STOP\n"), VrrpState::kFault);
  EXPECT_EQ(*ParseStateFile("INSTANCE VI_1 MASTER 150\n"), VrrpState::kMaster);
  EXPECT_EQ(*ParseStateFile("GROUP G1 BACKUP\n"), VrrpState::kBackup);
  EXPECT_EQ(*ParseStateFile("MASTER since 12:00\n"), VrrpState::kMaster);
}

TEST(StateFileTest, RejectsGarbage) {
  for (const char* text :
       {"", "\n \n", "master?", "INSTANCE VI_1", "INSTANCE VI_1 HAPPY 150", "2"}) {
    EXPECT_FALSE(ParseStateFile(text).ok()) << text;
  }
  auto bad = ParseStateFile("\nPRIMARY\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(bad.status().message(), HasSubstr("PRIMARY"));
}

// keepalived's debug dumps are not state files: pointing state_file at them must fail loudly
// rather than guess (their format is not guaranteed, failover-testbed.md §3).
TEST(StateFileTest, DebugDumpsAreNotStateFiles) {
  EXPECT_FALSE(ParseStateFile(ReadTestdata("linux-keepalived-json.txt")).ok());
  EXPECT_FALSE(ParseStateFile(ReadTestdata("linux-keepalived-data-excerpt.txt")).ok());
}

}  // namespace
}  // namespace carp_exec::fingerprint
