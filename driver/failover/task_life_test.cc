// The transition table of a guarded task's failover life: its shape, and that the README
// prints exactly it (the state machine reads as one place).

#include "driver/failover/task_life.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {
namespace {

constexpr Life kAll[] = {Life::kNone,     Life::kStarting, Life::kRecovered, Life::kReady,
                         Life::kNotReady, Life::kStopping, Life::kExited};

TEST(TaskLifeTest, TableHasNoDuplicatesAndNoWayBackToNone) {
  std::set<std::pair<Life, Life>> seen;
  for (const LifeTransition& t : kLifeTransitions) {
    EXPECT_TRUE(seen.insert({t.from, t.to}).second)
        << LifeName(t.from) << " → " << LifeName(t.to) << " twice";
    EXPECT_NE(t.to, Life::kNone) << "forgetting a task is DestroyTask, not a transition";
    EXPECT_NE(t.from, t.to);
  }
}

TEST(TaskLifeTest, NodeNeverServesUnderAStoppingTaskAgainExceptThroughRecovered) {
  // From stopping the only ways out are the exit and the documented grace (via recovered,
  // which must pass its ready check again before the node is restored).
  for (Life to : kAll) {
    const bool allowed = LifeTransitionAllowed(Life::kStopping, to);
    EXPECT_EQ(allowed, to == Life::kRecovered || to == Life::kExited) << LifeName(to);
  }
  EXPECT_FALSE(LifeTransitionAllowed(Life::kStopping, Life::kReady));
  EXPECT_FALSE(LifeTransitionAllowed(Life::kExited, Life::kReady));
  EXPECT_FALSE(LifeTransitionAllowed(Life::kExited, Life::kStarting));
}

TEST(TaskLifeTest, EveryLiveStateCanBeStoppedAndCanCrash) {
  for (Life from : {Life::kStarting, Life::kRecovered, Life::kReady, Life::kNotReady}) {
    EXPECT_TRUE(LifeTransitionAllowed(from, Life::kStopping)) << LifeName(from);
    EXPECT_TRUE(LifeTransitionAllowed(from, Life::kExited)) << LifeName(from);
  }
}

TEST(TaskLifeTest, ReadmePrintsTheTable) {
  std::ifstream in(CARP_FAILOVER_README);
  ASSERT_TRUE(in.good()) << CARP_FAILOVER_README;
  std::stringstream text;
  text << in.rdbuf();
  int rows = 0;
  for (const LifeTransition& t : kLifeTransitions) {
    const std::string row =
        absl::StrCat("| ", LifeName(t.from), " | ", LifeName(t.to), " | ", t.when, " |");
    EXPECT_NE(text.str().find(row), std::string::npos) << "missing in the README: " << row;
    ++rows;
  }
  EXPECT_EQ(rows, static_cast<int>(kLifeTransitions.size()));
}

}  // namespace
}  // namespace carp_exec::failover
