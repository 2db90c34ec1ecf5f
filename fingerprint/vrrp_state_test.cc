#include "fingerprint/vrrp_state.h"

#include <gtest/gtest.h>

#include <vector>

namespace carp_exec::fingerprint {
namespace {

using S = VrrpState;

TEST(VrrpStateTest, NamesAreTheFingerprintValues) {
  EXPECT_EQ(VrrpStateName(S::kMaster), "MASTER");
  EXPECT_EQ(VrrpStateName(S::kBackup), "BACKUP");
  EXPECT_EQ(VrrpStateName(S::kInit), "INIT");
  EXPECT_EQ(VrrpStateName(S::kFault), "FAULT");
  EXPECT_EQ(VrrpStateName(S::kUnknown), "unknown");
  EXPECT_EQ(VrrpStateName(static_cast<S>(42)), "unknown");
}

TEST(VrrpStateTest, ParsesWordsCaseInsensitively) {
  EXPECT_EQ(ParseVrrpStateWord("MASTER"), S::kMaster);
  EXPECT_EQ(ParseVrrpStateWord("master"), S::kMaster);
  EXPECT_EQ(ParseVrrpStateWord("Backup"), S::kBackup);
  EXPECT_EQ(ParseVrrpStateWord("init"), S::kInit);
  EXPECT_EQ(ParseVrrpStateWord("FAULT"), S::kFault);
}

TEST(VrrpStateTest, KeepalivedStopAndDeletedAreFault) {
  EXPECT_EQ(ParseVrrpStateWord("STOP"), S::kFault);
  EXPECT_EQ(ParseVrrpStateWord("deleted"), S::kFault);
}

TEST(VrrpStateTest, RejectsEverythingElse) {
  for (const char* word : {"", "unknown", "MASTERS", " MASTER", "MASTER\n", "M", "2", "BACKUP,"}) {
    EXPECT_FALSE(ParseVrrpStateWord(word).has_value()) << word;
  }
  EXPECT_FALSE(ParseVrrpStateWord(absl::string_view("MAS\0TER", 7)).has_value());
}

TEST(VrrpStateTest, NameRoundTrips) {
  for (S state : {S::kMaster, S::kBackup, S::kInit, S::kFault}) {
    EXPECT_EQ(ParseVrrpStateWord(VrrpStateName(state)), state);
  }
}

TEST(VrrpStateTest, Aggregation) {
  struct Case {
    std::vector<S> in;
    S want;
  };
  const Case cases[] = {
      {{}, S::kUnknown},
      {{S::kMaster}, S::kMaster},
      {{S::kBackup}, S::kBackup},
      {{S::kBackup, S::kBackup}, S::kBackup},
      {{S::kBackup, S::kMaster}, S::kMaster},  // any MASTER wins
      {{S::kFault, S::kMaster}, S::kMaster},
      {{S::kUnknown, S::kMaster}, S::kMaster},
      {{S::kBackup, S::kInit}, S::kInit},  // BACKUP only if all are
      {{S::kBackup, S::kFault}, S::kFault},
      {{S::kInit, S::kFault}, S::kFault},
      {{S::kBackup, S::kUnknown}, S::kUnknown},  // partial information never proves BACKUP
      {{S::kUnknown}, S::kUnknown},
      {{S::kInit}, S::kInit},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(AggregateVrrpStates(c.in), c.want) << "case of " << c.in.size() << " states";
  }
}

}  // namespace
}  // namespace carp_exec::fingerprint
