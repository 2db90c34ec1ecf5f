#include "tests/failover/move_losses.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

#ifndef CARP_MOVE_LOSSES_CASES
#define CARP_MOVE_LOSSES_CASES "tests/failover/move_losses_cases.txt"
#endif

namespace carp_exec::failover_test {
namespace {

absl::Time At(double seconds) { return FromUnixSeconds(seconds); }

ProbeRequest Request(double start, bool ok, std::string error, double latency = 0.01) {
  return {At(start), absl::Seconds(latency), ok, std::move(error)};
}

const char kReset[] = "ConnectionResetError: [Errno 104] Connection reset by peer";
const char kRefused[] = "ConnectionRefusedError: [Errno 111] Connection refused";

struct Case {
  int line = 0;
  std::optional<size_t> want;
  ProbeRequest request;
  std::vector<VipMove> moves;
};

double Seconds(absl::string_view text) {
  double value = 0;
  EXPECT_TRUE(absl::SimpleAtod(text, &value)) << text;
  return value;
}

// The format is described at the top of move_losses_cases.txt; move_losses_test.py reads it too.
std::vector<Case> ReadCases() {
  std::ifstream in(CARP_MOVE_LOSSES_CASES);
  EXPECT_TRUE(in.good()) << CARP_MOVE_LOSSES_CASES;
  std::vector<Case> cases;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    EXPECT_GE(f.size(), 6u) << "line " << number;
    if (f.size() < 6) continue;
    Case c;
    c.line = number;
    if (f[0] != "-") c.want = static_cast<size_t>(Seconds(f[0]));
    c.request.start = At(Seconds(f[1]));
    c.request.latency = absl::Seconds(Seconds(f[2]));
    c.request.ok = f[3] == "yes";
    if (f[4] != "-") {
      for (absl::string_view item : absl::StrSplit(f[4], ',')) {
        std::pair<absl::string_view, absl::string_view> fl = absl::StrSplit(item, ':');
        const double first = Seconds(fl.first);
        c.moves.push_back({At(first), At(fl.second.empty() ? first : Seconds(fl.second))});
      }
    }
    // The error is the rest of the line after the fifth field, spaces and all.
    absl::string_view rest = line;
    for (int i = 0; i < 5; ++i) {
      rest = absl::StripLeadingAsciiWhitespace(rest);
      rest.remove_prefix(std::min(rest.size(), rest.find(' ')));
    }
    rest = absl::StripAsciiWhitespace(rest);
    c.request.error = rest == "-" ? std::string() : std::string(rest);
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST(CaughtByMoveTest, SharedCases) {
  std::vector<Case> cases = ReadCases();
  ASSERT_GE(cases.size(), 10u);
  for (const Case& c : cases) {
    EXPECT_EQ(CaughtByMove(c.request, c.moves), c.want)
        << "move_losses_cases.txt line " << c.line << " (error \"" << c.request.error << "\")";
  }
}

TEST(MoveSeenByTest, SpansBothWitnessesOrTakesTheOneThere) {
  EXPECT_FALSE(MoveSeenBy(std::nullopt, std::nullopt).has_value());
  std::optional<VipMove> one = MoveSeenBy(std::nullopt, At(5));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->first, At(5));
  EXPECT_EQ(one->last, At(5));
  std::optional<VipMove> both = MoveSeenBy(At(7), At(6));
  ASSERT_TRUE(both.has_value());
  EXPECT_EQ(both->first, At(6));
  EXPECT_EQ(both->last, At(7));
}

TEST(TallyMoveLossesTest, OneResetPerMoveIsAcceptable) {
  MoveLossTally t = TallyMoveLosses(
      {Request(9.9, true, ""), Request(10.0, false, kReset), Request(12.0, false, kReset)},
      {{At(10.005), At(10.005)}, {At(12.002), At(12.002)}});
  EXPECT_EQ(t.total, 3);
  EXPECT_EQ(t.failed, 2);
  EXPECT_EQ(t.at_move, 2);
  EXPECT_EQ(t.other, 0);
  EXPECT_EQ(t.per_move, (std::vector<int64_t>{1, 1}));
  EXPECT_TRUE(t.Acceptable());
  EXPECT_EQ(t.Describe(),
            "3 requests, 2 failed: 2 reset or timed out in flight at a VIP move (per move: 1, 1), "
            "0 other");
}

TEST(TallyMoveLossesTest, TwoAtOneMoveOrARefusalFail) {
  MoveLossTally two =
      TallyMoveLosses({Request(10.0, false, kReset, 0.005), Request(10.006, false, kReset)},
                      {{At(10.01), At(10.01)}});
  EXPECT_EQ(two.MostAtOneMove(), 2);
  EXPECT_FALSE(two.Acceptable());
  MoveLossTally refused = TallyMoveLosses({Request(10.0, false, kRefused)}, {{At(10), At(10)}});
  EXPECT_EQ(refused.other, 1);
  EXPECT_FALSE(refused.Acceptable());
  MoveLossTally no_move = TallyMoveLosses({Request(10.0, false, kReset)}, {});
  EXPECT_EQ(no_move.other, 1);
  EXPECT_FALSE(no_move.Acceptable());
}

TEST(ReadProbeLogTest, ReadsWhatProbePyWrites) {
  char path[] = "/tmp/carp-probe-log-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << R"({"mono": 1.0, "wall": 100.5, "ok": true, "status": 200, "served_by": "a1", )"
        << R"("error": null, "latency": 0.0021, "seq": 0})"
        << "\n"
        << R"({"mono": 1.05, "wall": 100.55, "ok": false, "status": null, "served_by": null, )"
        << R"("error": "ConnectionResetError: [Errno 104] Connection reset by peer", )"
        << R"("latency": 0.003, "seq": 1})"
        << "\n\n";
  }
  absl::StatusOr<std::vector<ProbeRequest>> log = ReadProbeLog(path);
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), 2u);
  EXPECT_TRUE((*log)[0].ok);
  EXPECT_EQ((*log)[0].error, "");
  EXPECT_EQ((*log)[0].start, At(100.5));
  EXPECT_FALSE((*log)[1].ok);
  EXPECT_EQ((*log)[1].error, kReset);
  EXPECT_EQ((*log)[1].latency, absl::Seconds(0.003));
  {
    std::ofstream out(path, std::ios::app);
    out << R"({"wall": 101.0})"
        << "\n";
  }
  EXPECT_FALSE(ReadProbeLog(path).ok());
  std::remove(path);
  EXPECT_FALSE(ReadProbeLog(path).ok());
}

}  // namespace
}  // namespace carp_exec::failover_test
