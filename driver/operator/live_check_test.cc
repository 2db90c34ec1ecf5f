// check --live against the fake OpenBSD node: the cycle, its timings, the ledger afterwards,
// the refusals, and recovery from an interrupted cycle.

#include "driver/operator/live_check.h"

#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "driver/failover/atomic_file.h"
#include "driver/failover/demotion_backend.h"
#include "driver/failover/demotion_ledger.h"
#include "driver/failover/failover_files.h"
#include "driver/failover/failover_test_support.h"
#include "driver/failover/vrrp_resign.h"
#include "driver/operator/live_marker.h"
#include "driver/operator/operator_test_support.h"
#include "fingerprint/command_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace carp_exec::operator_cli::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

int LedgerShare(const FakeNode& node) {
  absl::StatusOr<failover::LedgerRecord> record = failover::ParseLedger(ReadText(node.ledger()));
  EXPECT_TRUE(record.ok()) << record.status();
  return record.ok() ? record->share : -1;
}

// Demotes through the plugin's ledger, as a plugin (or a killed check --live) leaves it.
void ApplyShare(const FakeNode& node, int share) {
  fingerprint::SystemCommandRunner commands;
  auto backend = failover::MakeOpenBsdCarpBackend(node.ifconfig(), "edge", &commands);
  ASSERT_TRUE(failover::MakeDirectories(node.state_dir() + "/failover").ok());
  failover::DemotionLedger ledger(node.ledger(), backend.get(), "");
  ASSERT_TRUE(ledger.Reconcile().ok());
  ASSERT_TRUE(ledger.Demote(share).ok());
}

TEST(LiveCheck, DemoteConfirmRestoreWithTimings) {
  FakeNode node;
  WriteText(node.node_file("lag"), "2\n");  // the old state is reported for two more queries
  Ran ran = RunCli(node.Args("check", {"--live", "--poll_interval=20ms"}));
  ASSERT_EQ(ran.code, kExitOk) << ran.out << ran.err;
  const std::string& out = ran.out;
  EXPECT_THAT(out, HasSubstr("before          MASTER, 192.0.2.10 on this node (demote count 0)"));
  EXPECT_THAT(out, HasSubstr("demoted group edge by 50 (demote count 0 → 50)"));
  for (const char* line :
       {"  demoted at      20[0-9][0-9]-[0-9-]+T[0-9:.]+Z: .*", "  state BACKUP    after [0-9]+ ms",
        "  VIP gone        after [0-9]+ ms \\(192.0.2.10 no longer on this node\\)",
        "  confirmed       after [0-9]+ ms .*",
        "  restored at     \\+[0-9]+ ms: restored demote count 50 → 0",
        "  back to MASTER  after [0-9]+ ms \\(from the restore\\)"}) {
    bool found = false;
    for (absl::string_view text_line : absl::StrSplit(out, '\n')) {
      found |= ::testing::Value(std::string(text_line), MatchesRegex(line));
    }
    EXPECT_TRUE(found) << "no line matching " << line << " in\n" << out;
  }
  EXPECT_THAT(out, HasSubstr("result: the hand-over works"));
  // Back to where it was: the ledger says 0, the group counter is 0, the marker is gone.
  EXPECT_EQ(LedgerShare(node), 0);
  EXPECT_EQ(node.group_count(), 0);
  EXPECT_FALSE(Exists(LiveMarkerPath(node.state_dir())));
  EXPECT_EQ(
      node.log(),
      "ifconfig -g edge carpdemote 50 (0 -> 50)\nifconfig -g edge -carpdemote 50 (50 -> 0)\n");
}

// Records the resigns it is asked for (its sockets are tested in vrrp_resign_netns_test and on
// the bed).
class RecordingResigner final : public failover::VrrpResigner {
 public:
  absl::StatusOr<std::string> Resign(int share) override {
    shares.push_back(share);
    return std::string("resigned VRRPv3 vrid 51 on eth0 to 224.0.0.18 (was priority 100)");
  }
  std::string Describe(int /*share*/) const override { return "recording"; }
  bool HasSeenAdvert() const override { return true; }
  std::vector<int> shares;
};

// RunLiveCycle on the fake OpenBSD node with `resigner` (as check_command passes keepalived's).
LiveCycleResult RunWithResigner(const FakeNode& node, failover::VrrpResigner* resigner,
                                std::string* out) {
  config::FailoverConfig config = failover::TestFailoverConfig();
  config.group = "edge";
  config.interfaces = {"carp1"};
  config.confirm_timeout = absl::Seconds(5);
  config.poll_interval = absl::Milliseconds(20);
  config.ifconfig_path = node.ifconfig();
  config.sysctl_path = node.sysctl();
  config.demote_via = "tool";
  config.observe_via = "tool";
  fingerprint::SystemCommandRunner runner;
  auto backend = failover::MakeOpenBsdCarpBackend(node.ifconfig(), "edge", &runner);
  absl::StatusOr<std::unique_ptr<fingerprint::NodeObserver>> observer =
      fingerprint::MakeNodeObserver(failover::ObserverOptionsFor(config), &runner);
  EXPECT_TRUE(observer.ok()) << observer.status();
  if (!observer.ok()) return LiveCycleResult{};
  LiveCycleParts parts;
  parts.config = &config;
  parts.state_dir = node.state_dir();
  parts.runner = &runner;
  parts.clock = failover::SystemClock();
  parts.backend = backend.get();
  parts.observer = observer->get();
  parts.print = [out](const std::string& line) { absl::StrAppend(out, line, "\n"); };
  parts.resigner = resigner;
  return RunLiveCycle(parts);
}

// keepalived with handover = "resign": check --live resigns after its demotion as a stop on
// the MASTER does, so the timeline it prints is the one a stop would have.
TEST(LiveCheck, TheCycleResignsAfterItsDemotionLikeAStop) {
  FakeNode node;
  WriteText(node.node_file("lag"), "2\n");
  RecordingResigner resigner;
  std::string out;
  LiveCycleResult result = RunWithResigner(node, &resigner, &out);
  EXPECT_EQ(result.outcome, LiveCycleResult::Outcome::kOk) << result.summary << "\n" << out;
  EXPECT_EQ(resigner.shares, std::vector<int>{50}) << "one resign, with the cycle's demotion";
  EXPECT_THAT(out, HasSubstr("  resigned        resigned VRRPv3 vrid 51 on eth0"));
  EXPECT_TRUE(result.confirmed);
  EXPECT_EQ(node.group_count(), 0);
}

// A BACKUP has nothing to hand over: no priority-0 advertisement (it would be a lie: this node
// is not the master), as for a stop on a BACKUP.
TEST(LiveCheck, ABackupNodeSendsNoResign) {
  FakeNode node;
  WriteText(node.node_file("peer_demote"), "0\n");
  WriteText(node.node_file("iface.carp1"), "inet=192.0.2.10 advskew=200 groups=\"carp edge\"\n");
  RecordingResigner resigner;
  std::string out;
  LiveCycleResult result = RunWithResigner(node, &resigner, &out);
  EXPECT_EQ(result.outcome, LiveCycleResult::Outcome::kOk) << result.summary << "\n" << out;
  EXPECT_THAT(out, HasSubstr("no move"));
  EXPECT_TRUE(resigner.shares.empty());
  EXPECT_THAT(out, Not(HasSubstr("resigned")));
}

TEST(LiveCheck, ABackupNodeHasNothingToMove) {
  FakeNode node;
  WriteText(node.node_file("peer_demote"), "0\n");
  WriteText(node.node_file("iface.carp1"), "inet=192.0.2.10 advskew=200 groups=\"carp edge\"\n");
  Ran ran = RunCli(node.Args("check", {"--live"}));
  ASSERT_EQ(ran.code, kExitOk) << ran.out;
  EXPECT_THAT(ran.out, HasSubstr("no move"));
  EXPECT_THAT(ran.out, Not(HasSubstr("back to MASTER")));
  EXPECT_EQ(LedgerShare(node), 0);
}

TEST(LiveCheck, NotConfirmedWhenThePeerIsDown) {
  FakeNode node;
  WriteText(node.node_file("peer_down"), "");
  Ran ran =
      RunCli(node.Args("check", {"--live", "--confirm_timeout=300ms", "--poll_interval=50ms"}));
  EXPECT_EQ(ran.code, kExitCheckFailed) << ran.out;
  EXPECT_THAT(ran.out, HasSubstr("NOT CONFIRMED"));
  EXPECT_THAT(ran.out, HasSubstr("not confirmed within 300ms"));
  EXPECT_THAT(ran.out, HasSubstr("restored demote count 50 → 0"));
  EXPECT_EQ(LedgerShare(node), 0);
  EXPECT_EQ(node.group_count(), 0);
}

TEST(LiveCheck, RefusedWhileAHandOverIsRecorded) {
  FakeNode node;
  ASSERT_TRUE(failover::MakeDirectories(node.state_dir() + "/failover").ok());
  ASSERT_TRUE(failover::WriteFileAtomically(node.state_dir() + "/failover/handovers",
                                            "alloc1/traefik/0001\n", 0600)
                  .ok());
  Ran ran = RunCli(node.Args("check", {"--live"}));
  EXPECT_EQ(ran.code, kExitRefused) << ran.out;
  EXPECT_THAT(ran.err, HasSubstr("a hand-over is in progress for alloc1/traefik/0001"));
  EXPECT_EQ(node.log(), "");  // nothing was demoted
  EXPECT_FALSE(Exists(node.ledger()));
  EXPECT_FALSE(Exists(LiveMarkerPath(node.state_dir())));
}

TEST(LiveCheck, RefusedWhenOthersCanWriteTheStateDir) {
  // The plugin refuses such a state_dir at SetConfig (security_state_file_attack_test); the
  // operator command writes the same ledger as root and must refuse it too.
  FakeNode node;
  ASSERT_TRUE(failover::MakeDirectories(node.state_dir()).ok());
  ASSERT_EQ(::chmod(node.state_dir().c_str(), 0777), 0);
  Ran ran = RunCli(node.Args("check", {"--live"}));
  EXPECT_EQ(ran.code, kExitRefused) << ran.out << ran.err;
  EXPECT_THAT(ran.err, HasSubstr(node.state_dir()));
  EXPECT_THAT(ran.err, HasSubstr("chmod"));
  EXPECT_EQ(node.log(), "");
  EXPECT_FALSE(Exists(node.ledger()));
  EXPECT_FALSE(Exists(LiveMarkerPath(node.state_dir())));
}

TEST(LiveCheck, LiveCheckRefusedWhilePluginOwnsLedger) {
  // The plugin holds <state_dir>/failover/lock for its whole life (failover_fault_test:
  // PluginHoldsTheFailoverLockForItsWholeLife); a check --live run meanwhile must not touch
  // the ledger or the node.
  FakeNode node;
  absl::StatusOr<std::unique_ptr<failover::FailoverLock>> plugin =
      failover::FailoverLock::Acquire(node.state_dir(), "carp_exec plugin");
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  Ran ran = RunCli(node.Args("check", {"--live"}));
  EXPECT_EQ(ran.code, kExitRefused) << ran.out << ran.err;
  EXPECT_THAT(ran.err, HasSubstr(absl::StrCat("in use by pid ", ::getpid(), " carp_exec plugin")));
  EXPECT_EQ(node.log(), "");
  EXPECT_FALSE(Exists(node.ledger()));
  EXPECT_FALSE(Exists(LiveMarkerPath(node.state_dir())));
  plugin->reset();  // the plugin exits: the check may run
  EXPECT_EQ(RunCli(node.Args("check", {"--live"})).code, kExitOk);
}

TEST(LiveCheck, RefusedWhileCarpExecHoldsTheNodeDemoted) {
  FakeNode node;
  ApplyShare(node, 50);
  Ran ran = RunCli(node.Args("check", {"--live"}));
  EXPECT_EQ(ran.code, kExitRefused) << ran.out;
  EXPECT_THAT(ran.err, HasSubstr("carp_exec holds this node demoted (our share 50"));
  EXPECT_EQ(node.group_count(), 50);
  EXPECT_EQ(LedgerShare(node), 50);
}

TEST(LiveCheck, RefusedWhileAnotherLiveCheckRuns) {
  FakeNode node;
  ASSERT_TRUE(failover::MakeDirectories(node.state_dir() + "/failover").ok());
  absl::StatusOr<std::unique_ptr<LiveMarkerLock>> other = LiveMarkerLock::Acquire(node.state_dir());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->Record(LiveMarker{4242, absl::Now()}).ok());
  Ran status = RunCli({"status", "--state-dir", node.state_dir()});
  EXPECT_THAT(status.out, HasSubstr("a check --live cycle is running (pid 4242"));
  Ran ran = RunCli(node.Args("check", {"--live"}));
  EXPECT_EQ(ran.code, kExitRefused) << ran.out;
  EXPECT_THAT(ran.err, HasSubstr("another carp_exec check --live (pid 4242) is running"));
  EXPECT_EQ(node.log(), "");
}

// A check --live killed after its demotion leaves the marker (unlocked) and our share in the
// ledger; status shows it, and the next check --live restores it before its own cycle.
TEST(LiveCheck, AnInterruptedCycleIsRecoveredByTheNextOne) {
  FakeNode node;
  ApplyShare(node, 50);
  {
    absl::StatusOr<std::unique_ptr<LiveMarkerLock>> killed =
        LiveMarkerLock::Acquire(node.state_dir());
    ASSERT_TRUE(killed.ok());
    ASSERT_TRUE((*killed)->Record(LiveMarker{999999, absl::Now()}).ok());
  }  // the lock dies with the "process"; the file stays
  Ran status = RunCli({"status", "--state-dir", node.state_dir(), "--json"});
  EXPECT_THAT(status.out, HasSubstr(R"("check_live":{"pid":999999,)"));
  EXPECT_THAT(status.out, HasSubstr(R"("running":false)"));

  Ran ran = RunCli(node.Args("check", {"--live"}));
  ASSERT_EQ(ran.code, kExitOk) << ran.out << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("an interrupted check --live (pid 999999) had left our share "
                                 "applied: restored demote count 50 → 0"));
  EXPECT_THAT(ran.out, HasSubstr("result: the hand-over works"));
  EXPECT_EQ(LedgerShare(node), 0);
  EXPECT_EQ(node.group_count(), 0);
  EXPECT_FALSE(Exists(LiveMarkerPath(node.state_dir())));
}

// A plugin killed between its intent record and the ledger result leaves an intent; check
// --live reconciles it exactly like the plugin's start would.
TEST(LiveCheck, ALeftoverIntentIsReconciledFirst) {
  FakeNode node;
  fingerprint::SystemCommandRunner commands;
  auto backend = failover::MakeOpenBsdCarpBackend(node.ifconfig(), "edge", &commands);
  ASSERT_TRUE(failover::MakeDirectories(node.state_dir() + "/failover").ok());
  {
    bool armed = false;
    failover::DemotionLedger ledger(node.ledger(), backend.get(), "",
                                    [&armed](absl::string_view step) {
                                      // die after applying, before recording the result
                                      return !armed || step != "record:write-temp";
                                    });
    ASSERT_TRUE(ledger.Reconcile().ok());
    armed = true;
    ASSERT_FALSE(ledger.Demote(50).ok());
  }
  ASSERT_EQ(node.group_count(), 50);
  Ran ran = RunCli(node.Args("check", {"--live"}));
  // The reconciled share is carp_exec's (the plugin's): the node is held demoted.
  EXPECT_EQ(ran.code, kExitRefused) << ran.out;
  EXPECT_THAT(ran.out, HasSubstr("had taken effect"));
  EXPECT_EQ(LedgerShare(node), 50);
}

}  // namespace
}  // namespace carp_exec::operator_cli::testing
