#include "driver/tasks/signal_names.h"

#include <csignal>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

TEST(SignalNamesTest, AcceptsNomadStyleShortAndAnyCase) {
  EXPECT_EQ(*ParseSignalName("SIGTERM"), SIGTERM);
  EXPECT_EQ(*ParseSignalName("TERM"), SIGTERM);
  EXPECT_EQ(*ParseSignalName("sighup"), SIGHUP);
  EXPECT_EQ(*ParseSignalName("SIGUSR1"), SIGUSR1);
  EXPECT_EQ(*ParseSignalName("SIGKILL"), SIGKILL);
  EXPECT_EQ(*ParseSignalName("SIGINT"), SIGINT);
}

TEST(SignalNamesTest, UnknownNamesAreInvalidArgumentNamingTheValue) {
  for (const char* bad : {"", "SIG", "SIGFOO", "15", "SIGTERM ", "TERMINATE"}) {
    absl::StatusOr<int> parsed = ParseSignalName(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(parsed.status().message(), absl::StrCat("\"", bad, "\"")));
    EXPECT_TRUE(absl::StrContains(parsed.status().message(), "SIGTERM"));
  }
}

TEST(SignalNamesTest, NamesRoundTrip) {
  for (int signo : {SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM, SIGWINCH}) {
    EXPECT_EQ(*ParseSignalName(SignalName(signo)), signo) << SignalName(signo);
  }
  EXPECT_EQ(SignalName(SIGTERM), "SIGTERM");
  EXPECT_EQ(SignalName(999), "signal 999");
}

}  // namespace
}  // namespace carp_exec::tasks
