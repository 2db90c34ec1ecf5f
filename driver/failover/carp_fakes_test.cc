// The openbsd-carp and freebsd-carp backends, the fingerprint observers and the handshake,
// run through tests/fakes/{ifconfig,sysctl} with the real SystemCommandRunner; plus the
// keepalived and command backends on real files and commands.

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

TEST_F(CarpFakesTest, BootIdComesFromTheKernel) {
  // On Linux the kernel's boot_id wins; the sysctl fallback is what the BSDs use.
  std::string id = ReadBootId(&runner_, config_.sysctl_path);
  EXPECT_FALSE(id.empty());
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
