// The openbsd-carp and freebsd-carp backends, the fingerprint observers and the handshake,
// run through tests/fakes/{ifconfig,sysctl} with the real SystemCommandRunner; plus the
// keepalived and command backends on real files and commands.

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "driver/failover/demotion_backend.h"
#include "driver/failover/demotion_ledger.h"
#include "driver/failover/failover_coordinator.h"
#include "driver/failover/failover_handshake.h"
#include "driver/failover/failover_test_support.h"
#include "driver/failover/temp_dir_for_test.h"
#include "driver/tasks/boot_token.h"
#include "fingerprint/backend_kind.h"
#include "fingerprint/command_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {
namespace {

using fingerprint::VrrpState;
using ::testing::HasSubstr;

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// T/bin/{ifconfig,sysctl} are symlinks to the fakes; T/bin/<tool>.dir names the state dir
// T/state (the runner does not pass environment variables through).
class CarpFakesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    bin_ = dir_.path() + "/bin";
    state_ = dir_.path() + "/state";
    ASSERT_EQ(::mkdir(bin_.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(state_.c_str(), 0700), 0);
    for (const char* tool : {"ifconfig", "sysctl"}) {
      const std::string link = absl::StrCat(bin_, "/", tool);
      ASSERT_EQ(::symlink(absl::StrCat(CARP_FAKES_DIR, "/", tool).c_str(), link.c_str()), 0);
      WriteText(link + ".dir", state_);
    }
    WriteText(state_ + "/iface.carp0", "inet=192.0.2.10\n");
    config_ = TestFailoverConfig();
    config_.ifconfig_path = bin_ + "/ifconfig";
    config_.sysctl_path = bin_ + "/sysctl";
  }
  std::string Log() { return ReadText(state_ + "/log"); }

  std::unique_ptr<fingerprint::NodeObserver> Observer() {
    absl::StatusOr<std::unique_ptr<fingerprint::NodeObserver>> observer =
        fingerprint::MakeNodeObserver(ObserverOptionsFor(config_), &runner_);
    EXPECT_TRUE(observer.ok()) << observer.status();
    return observer.ok() ? std::move(*observer) : nullptr;
  }

  TempDirForTest dir_;
  std::string bin_, state_;
  config::FailoverConfig config_;
  fingerprint::SystemCommandRunner runner_;
};

TEST_F(CarpFakesTest, OpenBsdBackendChangesTheGroupCounter) {
  auto backend = MakeOpenBsdCarpBackend(config_.ifconfig_path, "carp", &runner_);
  ASSERT_TRUE(backend->CheckUsable().ok()) << backend->CheckUsable();
  EXPECT_EQ(*backend->CurrentCount(), 0);
  ASSERT_TRUE(backend->Demote(50).ok());
  EXPECT_EQ(*backend->CurrentCount(), 50);
  ASSERT_TRUE(backend->Restore(50).ok());
  EXPECT_EQ(*backend->CurrentCount(), 0);
  EXPECT_THAT(Log(), HasSubstr("ifconfig -g carp carpdemote 50 (0 -> 50)"));
  EXPECT_THAT(Log(), HasSubstr("ifconfig -g carp -carpdemote 50 (50 -> 0)"));
}

TEST_F(CarpFakesTest, OpenBsdKernelLimitsComeBackAsErrors) {
  auto backend = MakeOpenBsdCarpBackend(config_.ifconfig_path, "carp", &runner_);
  absl::Status below_zero = backend->Restore(1);
  ASSERT_FALSE(below_zero.ok());
  EXPECT_THAT(std::string(below_zero.message()), HasSubstr("SIOCSIFGATTR: Invalid argument"));
  EXPECT_FALSE(backend->Demote(129).ok());  // refused before running anything
  WriteText(state_ + "/group.carp", "250\n");
  EXPECT_FALSE(backend->Demote(10).ok());
}

TEST_F(CarpFakesTest, OpenBsdUnusableIsDescribedPrecisely) {
  auto unknown_group = MakeOpenBsdCarpBackend(config_.ifconfig_path, "edge", &runner_);
  absl::Status s = unknown_group->CheckUsable();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("group edge"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("No such file or directory"));

  auto missing_tool = MakeOpenBsdCarpBackend(bin_ + "/nope", "carp", &runner_);
  s = missing_tool->CheckUsable();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("ifconfig_path"));
}

TEST_F(CarpFakesTest, OpenBsdObserverSeesTheDemotionMoveTheVip) {
  auto backend = MakeOpenBsdCarpBackend(config_.ifconfig_path, "carp", &runner_);
  auto observer = Observer();
  ASSERT_NE(observer, nullptr);
  ASSERT_TRUE(observer->CheckUsable().ok()) << observer->CheckUsable();
  absl::StatusOr<fingerprint::Observation> before = observer->Observe();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->state, VrrpState::kMaster);
  EXPECT_TRUE(before->holds_vip);
  ASSERT_TRUE(backend->Demote(50).ok());
  absl::StatusOr<fingerprint::Observation> after = observer->Observe();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->state, VrrpState::kBackup);
  EXPECT_FALSE(after->holds_vip);  // still configured on carp0, but carp0 is BACKUP
  EXPECT_EQ(after->demote_count, 50);
}

TEST_F(CarpFakesTest, HandshakeThroughTheFakesConfirmsAfterTheLag) {
  WriteText(state_ + "/lag", "3\n");
  auto backend = MakeOpenBsdCarpBackend(config_.ifconfig_path, "carp", &runner_);
  auto observer = Observer();
  ASSERT_NE(observer, nullptr);
  ASSERT_TRUE(observer->Observe().ok());  // remembers MASTER as the last state
  TempDirForTest ledger_dir;
  DemotionLedger ledger(ledger_dir.path() + "/ledger", backend.get(), "boot-1");
  ASSERT_TRUE(ledger.Reconcile().ok());
  FakeClock clock;
  RecordingSink sink;
  FailoverHandshake handshake(
      TaskRef{"t", "a", "traefik"},
      {&config_, backend->Target(), observer.get(), &runner_, &clock, &sink});
  HandoverReport report = handshake.Run([&] { return ledger.Demote(config_.demote_by); });
  EXPECT_TRUE(report.confirmed) << report.summary;
  EXPECT_TRUE(report.waited);
  EXPECT_EQ(
      report.summary,
      "handed over 192.0.2.10 in 150 ms (state MASTER → BACKUP; demoted group carp by 50 (demote "
      "count 0 → 50))");
  EXPECT_EQ(sink.Messages()[0], "demoted group carp by 50 (demote count 0 → 50)");
}

TEST_F(CarpFakesTest, HandshakeTimesOutWhenThePeerIsMoreDemoted) {
  WriteText(state_ + "/peer_demote", "100\n");
  config_.confirm_timeout = absl::Milliseconds(200);
  auto backend = MakeOpenBsdCarpBackend(config_.ifconfig_path, "carp", &runner_);
  auto observer = Observer();
  ASSERT_NE(observer, nullptr);
  FakeClock clock;
  RecordingSink sink;
  FailoverHandshake handshake(
      TaskRef{"t", "a", "traefik"},
      {&config_, backend->Target(), observer.get(), &runner_, &clock, &sink});
  HandoverReport report = handshake.Run([&]() -> absl::StatusOr<LedgerChange> {
    if (absl::Status s = backend->Demote(50); !s.ok()) return s;
    LedgerChange change;
    change.changed = true;
    change.share_after = 50;
    return change;
  });
  EXPECT_FALSE(report.confirmed);
  EXPECT_THAT(report.summary, HasSubstr("not confirmed within 200ms: still MASTER"));
}

TEST_F(CarpFakesTest, FreeBsdBackendAddsTheWrittenValue) {
  auto backend = MakeFreeBsdCarpBackend(config_.sysctl_path, &runner_);
  ASSERT_TRUE(backend->CheckUsable().ok()) << backend->CheckUsable();
  WriteText(state_ + "/demotion", "240\n");  // pfsync or a link-down demotion
  ASSERT_TRUE(backend->Demote(50).ok());
  EXPECT_EQ(*backend->CurrentCount(), 290);
  ASSERT_TRUE(backend->Restore(50).ok());
  EXPECT_EQ(*backend->CurrentCount(), 240);
  EXPECT_THAT(Log(), HasSubstr("sysctl net.inet.carp.demotion=-50 (290 -> 240)"));

  WriteText(state_ + "/no_carp", "");
  absl::Status s = backend->CheckUsable();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("kldload carp"));
}

TEST_F(CarpFakesTest, FreeBsdObserverThroughTheFakes) {
  WriteText(state_ + "/os", "freebsd\n");
  config_.backend = config::FailoverBackend::kFreeBsdCarp;
  config_.interfaces = {"carp0"};
  auto backend = MakeFreeBsdCarpBackend(config_.sysctl_path, &runner_);
  auto observer = Observer();
  ASSERT_NE(observer, nullptr);
  absl::StatusOr<fingerprint::Observation> before = observer->Observe();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->state, VrrpState::kMaster);
  EXPECT_TRUE(before->holds_vip);
  ASSERT_TRUE(backend->Demote(200).ok());  // advskew 0 + 200 > the peer's 100
  absl::StatusOr<fingerprint::Observation> after = observer->Observe();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->state, VrrpState::kBackup);
  EXPECT_FALSE(after->holds_vip);
}

TEST_F(CarpFakesTest, BootIdIsTheBootTokenNotKernBoottime) {
  // The ledger's boot id is the boot token (Linux: the kernel's boot_id); kern.boottime, which
  // a clock step moves, is no longer asked for (the fake sysctl still answers it).
  std::string id = ReadBootId();
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(id, tasks::CurrentBootToken().value_or("unreadable"));
}

TEST_F(CarpFakesTest, CoordinatorRollingUpdateThroughTheFakes) {
  WriteText(state_ + "/lag", "2\n");
  RecordingSink sink;
  FakeClock clock;
  {
    FailoverCoordinator coordinator(config_, dir_.path(), &runner_, &clock, &sink);
    tasks::PersistedTask live;
    live.task_id = "old";
    live.guarded = true;
    live.liveness = tasks::PersistedTask::Liveness::kRunning;
    ASSERT_TRUE(coordinator.Start({live}).ok());
    EXPECT_TRUE(coordinator.Status().usable) << coordinator.Status().unhealthy;
    absl::Notification done;
    HandoverReport report;
    coordinator.HandOver(TaskRef{"old", "a1", "traefik"}, [&](HandoverReport r) {
      report = std::move(r);
      done.Notify();
    });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
    EXPECT_TRUE(report.confirmed) << report.summary;
    coordinator.GuardedTaskExited(TaskRef{"old", "a1", "traefik"});
    coordinator.GuardedTaskDestroyed(TaskRef{"old", "a1", "traefik"});
    coordinator.GuardedTaskStarted(TaskRef{"new", "a2", "traefik"}, std::nullopt);
    ASSERT_TRUE(sink.WaitFor("restored demote count 50 → 0"));
  }
  EXPECT_EQ(Log(),
            "ifconfig -g carp carpdemote 50 (0 -> 50)\n"
            "ifconfig -g carp -carpdemote 50 (50 -> 0)\n");
}

// ------------------------------------------------- the kernels' rules (README "What the BSD
// kernels do")

// Queries the fake until the state is `want`, at most `limit` times; returns the number of
// queries it took, or -1.
int QueriesUntil(fingerprint::NodeObserver& observer, VrrpState want, int limit) {
  for (int i = 1; i <= limit; ++i) {
    absl::StatusOr<fingerprint::Observation> seen = observer.Observe();
    if (seen.ok() && seen->state == want) return i;
  }
  return -1;
}

TEST_F(CarpFakesTest, OpenBsdRestoreSendsNoAdvertSoFailbackWaitsForThePeersAdvert) {
  WriteText(state_ + "/peer_advert_every", "3\n");
  auto backend = MakeOpenBsdCarpBackend(config_.ifconfig_path, "carp", &runner_);
  auto observer = Observer();
  ASSERT_NE(observer, nullptr);
  ASSERT_EQ(QueriesUntil(*observer, VrrpState::kMaster, 1), 1);
  ASSERT_TRUE(backend->Demote(50).ok());
  EXPECT_EQ(QueriesUntil(*observer, VrrpState::kBackup, 1), 1);  // advertised at once
  ASSERT_TRUE(backend->Restore(50).ok());
  // -carpdemote sends nothing: MASTER comes back with the peer's third advert, not before.
  EXPECT_EQ(QueriesUntil(*observer, VrrpState::kMaster, 10), 3);
}

TEST_F(CarpFakesTest, OpenBsdFailbackNeedsPreemptOnThePreferredNode) {
  WriteText(state_ + "/preempt", "0\n");
  auto backend = MakeOpenBsdCarpBackend(config_.ifconfig_path, "carp", &runner_);
  auto observer = Observer();
  ASSERT_NE(observer, nullptr);
  ASSERT_TRUE(backend->Demote(50).ok());
  ASSERT_EQ(QueriesUntil(*observer, VrrpState::kBackup, 1), 1);
  ASSERT_TRUE(backend->Restore(50).ok());
  EXPECT_EQ(QueriesUntil(*observer, VrrpState::kMaster, 10), -1);
}

TEST_F(CarpFakesTest, OpenBsdHigherDemoteCountMovesTheMasterWithoutPeerPreempt) {
  WriteText(state_ + "/peer_preempt", "0\n");
  auto backend = MakeOpenBsdCarpBackend(config_.ifconfig_path, "carp", &runner_);
  auto observer = Observer();
  ASSERT_NE(observer, nullptr);
  ASSERT_TRUE(backend->Demote(1).ok());
  EXPECT_EQ(QueriesUntil(*observer, VrrpState::kBackup, 1), 1);
}

TEST_F(CarpFakesTest, OpenBsdBackendRefusesAnInterfaceOutsideTheGroup) {
  WriteText(state_ + "/group.edge", "0\n");  // the group exists, carp0 is not in it
  auto backend = MakeOpenBsdCarpBackend(config_.ifconfig_path, "edge", &runner_, {"carp0"});
  absl::Status s = backend->CheckUsable();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("interface carp0 is not in group edge"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("ifconfig carp0 group edge"));

  WriteText(state_ + "/iface.carp0", "inet=192.0.2.10 groups=\"carp edge\"\n");
  EXPECT_TRUE(backend->CheckUsable().ok()) << backend->CheckUsable();
}

class FreeBsdFakesTest : public CarpFakesTest {
 protected:
  void SetUp() override {
    CarpFakesTest::SetUp();
    WriteText(state_ + "/os", "freebsd\n");
    config_.backend = config::FailoverBackend::kFreeBsdCarp;
    config_.interfaces = {"carp0"};
    config_.demote_by = fingerprint::DefaultDemoteBy(config_.backend);
  }
  HandoverReport HandOverOnce() {
    auto backend = MakeFreeBsdCarpBackend(config_.sysctl_path, &runner_, config_.ifconfig_path,
                                          config_.interfaces);
    auto observer = Observer();
    EXPECT_EQ(QueriesUntil(*observer, VrrpState::kMaster, 1), 1);  // the fake settles MASTER
    FakeClock clock;
    RecordingSink sink;
    FailoverHandshake handshake(
        TaskRef{"t", "a", "traefik"},
        {&config_, backend->Target(), observer.get(), &runner_, &clock, &sink});
    return handshake.Run([&]() -> absl::StatusOr<LedgerChange> {
      if (absl::Status s = backend->Demote(config_.demote_by); !s.ok()) return s;
      LedgerChange change;
      change.changed = true;
      change.share_after = config_.demote_by;
      return change;
    });
  }
};

TEST_F(FreeBsdFakesTest, DefaultStepCrossesAnyAdvskewGap) {
  WriteText(state_ + "/peer_advskew", "239\n");
  config_.confirm_timeout = absl::Milliseconds(200);
  HandoverReport report = HandOverOnce();
  EXPECT_TRUE(report.confirmed) << report.summary;
}

TEST_F(FreeBsdFakesTest, AStepBelowTheGapNeverMovesTheVip) {
  // advskew 0 + 50 is still below the peer's 100: the peer never preempts (the old default).
  config_.demote_by = 50;
  config_.confirm_timeout = absl::Milliseconds(200);
  HandoverReport report = HandOverOnce();
  EXPECT_FALSE(report.confirmed);
  EXPECT_THAT(report.summary, HasSubstr("still MASTER"));
}

TEST_F(FreeBsdFakesTest, WithoutPreemptOnThePeerTheVipStays) {
  WriteText(state_ + "/peer_preempt", "0\n");
  config_.confirm_timeout = absl::Milliseconds(200);
  EXPECT_FALSE(HandOverOnce().confirmed);
}

TEST_F(FreeBsdFakesTest, BackendRefusesPreemptOffAndAnAdvskewAtTheCap) {
  auto backend = MakeFreeBsdCarpBackend(config_.sysctl_path, &runner_, config_.ifconfig_path,
                                        config_.interfaces);
  ASSERT_TRUE(backend->CheckUsable().ok()) << backend->CheckUsable();
  WriteText(state_ + "/preempt", "0\n");
  absl::Status s = backend->CheckUsable();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("net.inet.carp.preempt is 0"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("sysctl net.inet.carp.preempt=1"));

  WriteText(state_ + "/preempt", "1\n");
  WriteText(state_ + "/iface.carp0", "inet=192.0.2.10 advskew=240\n");
  s = backend->CheckUsable();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("carp0 vhid 1 has advskew 240"));

  // No interfaces configured: every carp vhid from `ifconfig -a` is checked.
  auto all = MakeFreeBsdCarpBackend(config_.sysctl_path, &runner_, config_.ifconfig_path, {});
  EXPECT_FALSE(all->CheckUsable().ok());
}

TEST_F(FreeBsdFakesTest, RestoreWaitsForThePeersAdvertAndOurPreempt) {
  auto backend = MakeFreeBsdCarpBackend(config_.sysctl_path, &runner_, config_.ifconfig_path,
                                        config_.interfaces);
  auto observer = Observer();
  ASSERT_NE(observer, nullptr);
  ASSERT_TRUE(backend->Demote(240).ok());
  ASSERT_EQ(QueriesUntil(*observer, VrrpState::kBackup, 1), 1);
  ASSERT_TRUE(backend->Restore(240).ok());
  EXPECT_EQ(QueriesUntil(*observer, VrrpState::kMaster, 10), 2);  // the peer's next advert
}

// ------------------------------------------------- event-driven confirmation

// Reports a change at once on every Wait and counts the waits.
class ImmediateEvents final : public fingerprint::ChangeEventSource {
 public:
  explicit ImmediateEvents(int* waits) : waits_(waits) {}
  bool Wait(absl::Time, int) override {
    ++*waits_;
    return true;
  }
  absl::string_view Describe() const override { return "test"; }

 private:
  int* waits_;
};

TEST_F(CarpFakesTest, AnEventEndsTheWaitAndTheConditionIsCheckedAtOnce) {
  WriteText(state_ + "/lag", "2\n");  // two more queries see MASTER after the demotion
  auto backend = MakeOpenBsdCarpBackend(config_.ifconfig_path, "carp", &runner_);
  auto observer = Observer();
  ASSERT_NE(observer, nullptr);
  ASSERT_TRUE(observer->Observe().ok());
  FakeClock clock;
  RecordingSink sink;
  int waits = 0;
  bool opened_before_demotion = false;
  FailoverHandshake::Parts parts{&config_, backend->Target(), observer.get(), &runner_, &clock,
                                 &sink};
  FailoverHandshake handshake(TaskRef{"t", "a", "traefik"}, parts);
  handshake.set_open_events([&]() -> std::unique_ptr<fingerprint::ChangeEventSource> {
    opened_before_demotion = Log().empty();
    return std::make_unique<ImmediateEvents>(&waits);
  });
  HandoverReport report = handshake.Run([&]() -> absl::StatusOr<LedgerChange> {
    if (absl::Status s = backend->Demote(50); !s.ok()) return s;
    LedgerChange change;
    change.changed = true;
    change.share_after = 50;
    return change;
  });
  EXPECT_TRUE(report.confirmed) << report.summary;
  EXPECT_TRUE(opened_before_demotion);
  EXPECT_EQ(waits, 2);                             // one wake per poll after the first
  EXPECT_EQ(clock.slept(), absl::ZeroDuration());  // no poll interval was slept out
}

TEST_F(CarpFakesTest, InKernelDemotionOutsideTheBsdsSaysUseTheTool) {
  auto openbsd = MakeOpenBsdCarpBackend(config_.ifconfig_path, "carp", &runner_, {}, true);
  absl::Status s = openbsd->Demote(50);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("demote_via = \"tool\""));
  EXPECT_FALSE(openbsd->CheckUsable().ok());
  auto freebsd =
      MakeFreeBsdCarpBackend(config_.sysctl_path, &runner_, config_.ifconfig_path, {}, true);
  EXPECT_FALSE(freebsd->CurrentCount().ok());
  EXPECT_EQ(Log(), "");  // nothing ran: the tools are not the fallback once kernel is chosen
}

TEST(KeepalivedBackendTest, WritesTheTrackFile) {
  TempDirForTest dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string track = dir.path() + "/demote";
  auto backend = MakeKeepalivedBackend(track);
  ASSERT_TRUE(backend->CheckUsable().ok()) << backend->CheckUsable();
  EXPECT_EQ(*backend->CurrentCount(), 0);  // no file yet: keepalived reads 0 too
  ASSERT_TRUE(backend->Demote(50).ok());
  EXPECT_EQ(ReadText(track), "50\n");
  ASSERT_TRUE(backend->Restore(50).ok());
  EXPECT_EQ(ReadText(track), "0\n");

  WriteText(track, "fifty\n");
  EXPECT_FALSE(backend->CurrentCount().ok());

  auto nowhere = MakeKeepalivedBackend(dir.path() + "/missing/dir/demote");
  absl::Status s = nowhere->CheckUsable();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("not writable"));
}

TEST(KeepalivedBackendTest, TrackFileInADirectoryOthersCanWriteIsRefused) {
  // keepalived trusts the file's number; a planted file would demote or restore the node.
  TempDirForTest dir;
  ASSERT_FALSE(dir.path().empty());
  ASSERT_EQ(::chmod(dir.path().c_str(), 01777), 0);  // sticky does not help: they own the file
  auto backend = MakeKeepalivedBackend(dir.path() + "/demote");
  absl::Status s = backend->CheckUsable();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("can be written by other users"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("chmod go-w"));
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  EXPECT_TRUE(backend->CheckUsable().ok()) << backend->CheckUsable();
}

TEST(KeepalivedBackendTest, TrackFileUnderAParentOthersCanWriteIsRefused) {
  // A parent others may write (not sticky) lets them rename the track_file's directory away
  // and put their own in its place.
  TempDirForTest dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string open = dir.path() + "/open", keep = open + "/keep";
  ASSERT_EQ(::mkdir(open.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(keep.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(open.c_str(), 0777), 0);
  auto backend = MakeKeepalivedBackend(keep + "/demote");
  absl::Status s = backend->CheckUsable();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("parent directory " + open));
  ASSERT_EQ(::chmod(open.c_str(), 01777), 0);  // sticky: entries of others cannot be renamed
  EXPECT_TRUE(backend->CheckUsable().ok()) << backend->CheckUsable();
}

// A symlink on the track_file's path, as written, whose owner is another user: they could
// re-point it at a directory of theirs later, whatever the target looks like today.
TEST(KeepalivedBackendTest, TrackFileBehindASymlinkOthersOwnIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the symlink to another user";
  TempDirForTest dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string keep = dir.path() + "/keep", link = dir.path() + "/link";
  ASSERT_EQ(::mkdir(keep.c_str(), 0755), 0);
  ASSERT_EQ(::symlink(keep.c_str(), link.c_str()), 0);
  ASSERT_EQ(::lchown(link.c_str(), 65534, 65534), 0);
  auto backend = MakeKeepalivedBackend(link + "/demote");
  absl::Status s = backend->CheckUsable();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("is a symlink owned by uid 65534"));
  ASSERT_EQ(::lchown(link.c_str(), 0, 0), 0);  // root's link: fine
  EXPECT_TRUE(backend->CheckUsable().ok()) << backend->CheckUsable();
}

TEST(CommandBackendTest, NonZeroExitIsAnErrorWithStderr) {
  fingerprint::SystemCommandRunner runner;
  auto ok = MakeCommandBackend({"/bin/sh", "-c", "exit 0"}, {"/bin/sh", "-c", "exit 0"}, &runner);
  ASSERT_TRUE(ok->CheckUsable().ok());
  EXPECT_TRUE(ok->Demote(50).ok());
  EXPECT_FALSE(ok->CurrentCount()->has_value());
  auto failing = MakeCommandBackend({"/bin/sh", "-c", "echo 'api: 503' >&2; exit 3"},
                                    {"/bin/sh", "-c", "exit 0"}, &runner);
  absl::Status s = failing->Demote(50);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("status 3"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("api: 503"));
  auto missing = MakeCommandBackend({"/nonexistent/demote"}, {"/bin/true"}, &runner);
  EXPECT_FALSE(missing->CheckUsable().ok());
}

}  // namespace
}  // namespace carp_exec::failover
