#include "driver/failover/failover_handshake.h"

#include "driver/failover/event_text.h"
#include "driver/failover/failover_test_support.h"
#include "fingerprint/fake_command_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {
namespace {

using fingerprint::VrrpState;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FailoverHandshakeTest : public ::testing::Test {
 protected:
  FailoverHandshakeTest() : config_(TestFailoverConfig()) {}

  HandoverReport Run(absl::StatusOr<LedgerChange> demote = Demoted()) {
    FailoverHandshake handshake(TaskRef{"alloc1/traefik/1", "alloc1", "traefik"},
                                {&config_, "group carp", &observer_, &runner_, &clock_, &sink_});
    HandoverReport report = handshake.Run([&] { return demote; });
    EXPECT_EQ(handshake.phase(), HandoverPhase::kSignalled);
    return report;
  }
  // A hand-over over the fixture's parts, watching `observer` (the fixture's by default) and
  // resigning through `resigner` (none by default).
  FailoverHandshake Handshake(VrrpResigner* resigner = nullptr,
                              fingerprint::NodeObserver* observer = nullptr) {
    return FailoverHandshake(TaskRef{"t", "a", "n"},
                             {&config_, "group carp", observer ? observer : &observer_, &runner_,
                              &clock_, &sink_, resigner});
  }
  static LedgerChange Demoted() {
    LedgerChange change;
    change.changed = true;
    change.share_after = 50;
    change.count_before = 0;
    change.count_after = 50;
    return change;
  }

  config::FailoverConfig config_;
  ScriptedObserver observer_;
  fingerprint::FakeCommandRunner runner_;
  FakeClock clock_;
  RecordingSink sink_;
};

TEST_F(FailoverHandshakeTest, AlreadyBackupDoesNotWait) {
  observer_.Queue(Seen(VrrpState::kBackup));
  HandoverReport report = Run();
  EXPECT_TRUE(report.confirmed);
  EXPECT_FALSE(report.waited);
  EXPECT_EQ(clock_.slept(), absl::ZeroDuration());
  EXPECT_EQ(observer_.calls(), 1);
  EXPECT_THAT(sink_.Phases(), ElementsAre("demoting", "confirming", "signalled"));
  EXPECT_EQ(sink_.Messages()[0], "demoted group carp by 50 (demote count 0 → 50)");
  EXPECT_THAT(sink_.Messages()[1], HasSubstr("nothing to hand over"));
}

// The signalled event says how many processes were created while the hand-over ran: the fake
// observer and runner start none, a real confirm_command would count.
TEST_F(FailoverHandshakeTest, SignalledEventCountsTheForks) {
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup));
  Run();
  std::vector<FailoverEvent> events = sink_.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().annotations.at("phase"), "signalled");
  EXPECT_EQ(events.back().annotations.at("forks"), "0");
}

TEST_F(FailoverHandshakeTest, NothingToHandOverLooksOnceAndNeverDemotes) {
  FailoverHandshake handshake(TaskRef{"alloc1/traefik/1", "alloc1", "traefik"},
                              {&config_, "group carp", &observer_, &runner_, &clock_, &sink_});
  observer_.Queue(Seen(VrrpState::kBackup));
  std::optional<HandoverReport> report = handshake.NothingToHandOver();
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->confirmed);
  EXPECT_FALSE(report->waited);
  EXPECT_FALSE(report->demoted);
  EXPECT_EQ(observer_.calls(), 1);
  EXPECT_THAT(sink_.Phases(), ElementsAre("confirming", "signalled"));
  EXPECT_EQ(handshake.phase(), HandoverPhase::kSignalled);
  EXPECT_EQ(sink_.events().back().annotations.at("forks"), "0");

  // A MASTER (or a node that cannot be observed) is left to Begin.
  ScriptedObserver other;
  FailoverHandshake master(TaskRef{"alloc1/traefik/2", "alloc1", "traefik"},
                           {&config_, "group carp", &other, &runner_, &clock_, &sink_});
  other.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  other.Queue(absl::UnavailableError("ip failed"));
  EXPECT_FALSE(master.NothingToHandOver().has_value());
  EXPECT_EQ(master.phase(), HandoverPhase::kIdle);
  EXPECT_FALSE(master.NothingToHandOver().has_value());
  EXPECT_EQ(other.calls(), 2);
}

TEST_F(FailoverHandshakeTest, ConfirmedAfterSomePolls) {
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup));
  HandoverReport report = Run();
  EXPECT_TRUE(report.confirmed);
  EXPECT_TRUE(report.waited);
  EXPECT_EQ(observer_.calls(), 4);
  EXPECT_EQ(clock_.slept(), absl::Milliseconds(150));
  EXPECT_EQ(report.elapsed, absl::Milliseconds(150));
  EXPECT_EQ(
      report.summary,
      "handed over 192.0.2.10 in 150 ms (state MASTER → BACKUP; demoted group carp by 50 (demote "
      "count 0 → 50))");
  std::vector<FailoverEvent> events = sink_.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].message,
            "state MASTER, 192.0.2.10 on this node: waiting up to 10s for the peer to take over");
  EXPECT_EQ(events[2].annotations.at("polls"), "4");
  EXPECT_EQ(events[2].annotations.at("waited_ms"), "150");
  EXPECT_EQ(events[2].task.task_name, "traefik");
}

TEST_F(FailoverHandshakeTest, TimeoutIsReportedAndTheTaskIsStoppedAnyway) {
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  HandoverReport report = Run();
  EXPECT_FALSE(report.confirmed);
  EXPECT_TRUE(report.error.ok());  // a timeout is not an error: the stop goes on
  EXPECT_EQ(report.elapsed, absl::Seconds(10));
  EXPECT_EQ(report.summary,
            "not confirmed within 10s: still MASTER (peer down or more demoted?); stopping the "
            "task anyway");
  EXPECT_EQ(observer_.calls(), 201);  // at 0, every 50 ms, and at the deadline
}

TEST_F(FailoverHandshakeTest, FaultIsNotBackup) {
  // keepalived in fault mode drops the VIP at once, before the peer owns it.
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kFault));
  HandoverReport report = Run();
  EXPECT_FALSE(report.confirmed);
  EXPECT_THAT(report.summary, HasSubstr("FAULT is not BACKUP"));
}

TEST_F(FailoverHandshakeTest, VipStillHeldWhileBackupKeepsWaiting) {
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup));
  HandoverReport report = Run();
  EXPECT_TRUE(report.confirmed);
  EXPECT_EQ(observer_.calls(), 4);

  FakeClock other_clock;
  ScriptedObserver stuck;
  stuck.Queue(Seen(VrrpState::kBackup, {"192.0.2.10"}));
  RecordingSink sink;
  FailoverHandshake handshake(TaskRef{"t", "a", "n"},
                              {&config_, "group carp", &stuck, &runner_, &other_clock, &sink});
  HandoverReport stuck_report = handshake.Run([] { return Demoted(); });
  EXPECT_FALSE(stuck_report.confirmed);
  EXPECT_THAT(stuck_report.summary, HasSubstr("BACKUP but 192.0.2.10 still on this node"));
}

TEST_F(FailoverHandshakeTest, ConfirmCommandMustSucceed) {
  config_.confirm_command = {"/usr/local/bin/vip-moved", "192.0.2.10"};
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup));
  runner_.QueueResult(config_.confirm_command,
                      fingerprint::CommandResult{1, 0, false, "", "provider: still routed\n"});
  runner_.QueueResult(config_.confirm_command,
                      fingerprint::CommandResult{1, 0, false, "", "provider: still routed\n"});
  runner_.QueueResult(config_.confirm_command, fingerprint::CommandResult{0, 0, false, "", ""});
  HandoverReport report = Run();
  EXPECT_TRUE(report.confirmed);
  EXPECT_EQ(runner_.CallCount(config_.confirm_command), 3);
  EXPECT_EQ(observer_.calls(), 4);
}

TEST_F(FailoverHandshakeTest, ConfirmCommandFailingTimesOutWithItsError) {
  config_.confirm_command = {"/usr/local/bin/vip-moved"};
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup));
  runner_.SetResult(config_.confirm_command,
                    fingerprint::CommandResult{3, 0, false, "", "provider: still routed\n"});
  HandoverReport report = Run();
  EXPECT_FALSE(report.confirmed);
  EXPECT_THAT(report.summary, HasSubstr("confirm_command: exited with status 3"));
  EXPECT_THAT(report.summary, HasSubstr("still routed"));
}

TEST_F(FailoverHandshakeTest, SettleWaitsAfterConfirmation) {
  config_.settle = absl::Seconds(2);
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup));
  HandoverReport report = Run();
  EXPECT_TRUE(report.confirmed);
  EXPECT_EQ(report.elapsed, absl::Milliseconds(2050));
  EXPECT_THAT(report.summary, HasSubstr("settled 2s"));
}

TEST_F(FailoverHandshakeTest, UnobservableNodeWaitsBounded) {
  observer_.Queue(absl::UnavailableError("`/sbin/ifconfig carp0` failed: no such interface"));
  HandoverReport report = Run();
  EXPECT_FALSE(report.confirmed);
  EXPECT_TRUE(report.waited);
  EXPECT_THAT(report.summary, HasSubstr("cannot observe the node"));
  EXPECT_THAT(report.summary, HasSubstr("no such interface"));
}

TEST_F(FailoverHandshakeTest, FailedDemotionSkipsTheWait) {
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  HandoverReport report =
      Run(absl::FailedPreconditionError("`/sbin/ifconfig -g carp carpdemote 50` failed"));
  EXPECT_FALSE(report.error.ok());
  EXPECT_FALSE(report.confirmed);
  EXPECT_EQ(clock_.slept(), absl::ZeroDuration());
  EXPECT_THAT(report.summary, HasSubstr("stopping the task without a hand-over"));
  EXPECT_THAT(sink_.Phases(), ElementsAre("demoting", "confirming", "signalled"));
}

TEST_F(FailoverHandshakeTest, NomadSeesOneEventPerHandOver) {
  // Nomad keeps a task's last 10 events; the inner steps stay in the log.
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup));
  FailoverHandshake handshake(TaskRef{"t", "a", "n"},
                              {&config_, "group carp", &observer_, &runner_, &clock_, &sink_});
  handshake.Run([] { return Demoted(); });
  std::vector<std::string> shown;
  for (const FailoverEvent& event : sink_.events()) {
    if (!event.detail) shown.push_back(event.annotations.at("phase"));
  }
  EXPECT_THAT(shown, ElementsAre("signalled"));
  EXPECT_THAT(sink_.Phases(), ElementsAre("demoting", "confirming", "signalled"));
}

// A VrrpResigner that records its calls (the sockets are tested on the bed: failover_e2e).
class FakeResigner final : public VrrpResigner {
 public:
  absl::StatusOr<std::string> Resign(int share) override {
    shares.push_back(share);
    if (!queued.empty()) {
      absl::StatusOr<std::string> next = queued.front();
      queued.erase(queued.begin());
      return next;
    }
    return result;
  }
  std::string Describe(int /*share*/) const override { return "fake"; }
  bool HasSeenAdvert() const override { return true; }
  std::vector<int> shares;
  absl::StatusOr<std::string> result = std::string("resigned VRRPv3 vrid 51 on eth0");
  std::vector<absl::StatusOr<std::string>> queued;  // answered first, in order
};

TEST_F(FailoverHandshakeTest, ResignIsSentOnceAfterTheDemotionOnlyByAMaster) {
  FakeResigner resigner;
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup));
  FailoverHandshake handshake = Handshake(&resigner);
  HandoverReport report = handshake.Run([] { return Demoted(); });
  EXPECT_TRUE(report.confirmed);
  EXPECT_EQ(resigner.shares, std::vector<int>{50});
  EXPECT_EQ(report.summary,
            "handed over 192.0.2.10 in 50 ms (state MASTER → BACKUP; demoted group carp by 50 "
            "(demote count 0 → 50); resigned VRRPv3 vrid 51 on eth0)");
  EXPECT_THAT(sink_.Phases(), ElementsAre("demoting", "demoting", "confirming", "signalled"));
}

TEST_F(FailoverHandshakeTest, NoResignFromABackupOrAfterAFailedDemotion) {
  FakeResigner resigner;
  ScriptedObserver backup;  // holds the VIP as BACKUP: waits, but must not resign
  backup.Queue(Seen(VrrpState::kBackup, {"192.0.2.10"}));
  backup.Queue(Seen(VrrpState::kBackup));
  FailoverHandshake waits = Handshake(&resigner, &backup);
  EXPECT_TRUE(waits.Run([] { return Demoted(); }).confirmed);

  ScriptedObserver master;
  master.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  FailoverHandshake failed = Handshake(&resigner, &master);
  HandoverReport report = failed.Run(
      [] { return absl::StatusOr<LedgerChange>(absl::UnavailableError("track_file: EROFS")); });
  EXPECT_FALSE(report.error.ok());
  EXPECT_TRUE(resigner.shares.empty());
}

TEST_F(FailoverHandshakeTest, AResignThatCannotBeSentLeavesTheWeightedWait) {
  FakeResigner resigner;
  resigner.result = absl::FailedPreconditionError("no advertisement of this node for vrid 51");
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup));
  FailoverHandshake handshake = Handshake(&resigner);
  HandoverReport report = handshake.Run([] { return Demoted(); });
  EXPECT_TRUE(report.confirmed);
  EXPECT_EQ(resigner.shares, std::vector<int>{50});
  EXPECT_THAT(sink_.Messages()[1],
              HasSubstr("no resign (no advertisement of this node for vrid 51); the peer takes "
                        "over at its Master_Down timer"));
  EXPECT_THAT(report.summary, ::testing::Not(HasSubstr("resigned")));
}

// Unicast peers: the first Resign comes before keepalived advertised priority 1 (Unavailable);
// it is asked again at each poll and the one sent later is in the summary.
TEST_F(FailoverHandshakeTest, AResignThatIsNotPossibleYetIsRetriedAtEachPoll) {
  FakeResigner resigner;
  resigner.queued = {absl::UnavailableError("unicast peers: not yet"),
                     absl::UnavailableError("unicast peers: not yet")};
  resigner.result = std::string("resigned VRRPv3 vrid 51 on eth0 to 10.231.0.12");
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));  // Begin
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));  // poll 2: still not
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));  // poll 3: sent
  observer_.Queue(Seen(VrrpState::kBackup));
  FailoverHandshake handshake = Handshake(&resigner);
  HandoverReport report = handshake.Run([] { return Demoted(); });
  EXPECT_TRUE(report.confirmed);
  EXPECT_EQ(resigner.shares, (std::vector<int>{50, 50, 50}));
  EXPECT_THAT(report.summary, HasSubstr("; resigned VRRPv3 vrid 51 on eth0 to 10.231.0.12)"));
  EXPECT_THAT(sink_.Messages()[1], HasSubstr("resign not sent yet (unicast peers: not yet)"));
  EXPECT_THAT(sink_.Phases(),
              ElementsAre("demoting", "demoting", "confirming", "confirming", "signalled"));
}

// Once this node is no longer MASTER (the VIP moved, or the state is unknown) no retry is sent,
// and none after a final refusal.
TEST_F(FailoverHandshakeTest, RetriesStopWhenThisNodeIsNoLongerMasterOrTheRefusalIsFinal) {
  FakeResigner resigner;
  resigner.result = absl::UnavailableError("unicast peers: not yet");
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup, {"192.0.2.10"}));  // going: no more resigns
  observer_.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  observer_.Queue(Seen(VrrpState::kBackup));
  FailoverHandshake handshake = Handshake(&resigner);
  EXPECT_TRUE(handshake.Run([] { return Demoted(); }).confirmed);
  EXPECT_EQ(resigner.shares, std::vector<int>{50});

  FakeResigner final_refusal;
  final_refusal.queued = {absl::UnavailableError("not yet")};
  final_refusal.result = absl::FailedPreconditionError("priority 255");
  ScriptedObserver master;
  master.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  master.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  master.Queue(Seen(VrrpState::kMaster, {"192.0.2.10"}));
  master.Queue(Seen(VrrpState::kBackup));
  RecordingSink sink;
  FailoverHandshake refused(TaskRef{"t", "a", "n"}, {&config_, "group carp", &master, &runner_,
                                                     &clock_, &sink, &final_refusal});
  EXPECT_TRUE(refused.Run([] { return Demoted(); }).confirmed);
  EXPECT_EQ(final_refusal.shares, (std::vector<int>{50, 50}));
  EXPECT_THAT(sink.Messages(), ::testing::Contains(HasSubstr("no resign (priority 255)")));
}

TEST(EventTextTest, Durations) {
  EXPECT_EQ(FormatElapsed(absl::Milliseconds(312)), "312 ms");
  EXPECT_EQ(FormatElapsed(absl::Milliseconds(1200)), "1.2 s");
}

TEST(EventTextTest, AlreadyDemoted) {
  LedgerChange change;
  change.share_before = change.share_after = 50;
  change.count_before = 50;
  EXPECT_EQ(DemotedText("group carp", change),
            "group carp already demoted by carp_exec (our share 50, demote count 50)");
}

}  // namespace
}  // namespace carp_exec::failover
