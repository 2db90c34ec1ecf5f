// The keepalived and command NodeObservers and MakeNodeObserver's option checks, driven through
// FakeCommandRunner with the shared fixtures.

#include "fingerprint/node_observer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>

#include "fingerprint/fake_command_runner.h"
#include "fingerprint/netlink_addresses.h"
#include "fingerprint/testdata_reader.h"

namespace carp_exec::fingerprint {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ObserverOptions OpenBsd() {
  ObserverOptions options;
  options.backend = BackendKind::kOpenBsdCarp;
  options.group = "carp";
  options.interfaces = {"carp0"};
  options.vips = {"192.0.2.10"};
  return options;
}

std::unique_ptr<NodeObserver> MustMake(const ObserverOptions& options, CommandRunner* runner) {
  auto observer = MakeNodeObserver(options, runner);
  EXPECT_TRUE(observer.ok()) << observer.status();
  return observer.ok() ? *std::move(observer) : nullptr;
}

// ---------------------------------------------------------------- keepalived

ObserverOptions Keepalived() {
  ObserverOptions options;
  options.backend = BackendKind::kKeepalived;
  options.interfaces = {"eth0"};
  options.vips = {"10.231.0.10"};
  return options;
}

const std::vector<std::string> kIpEth0 = {"/sbin/ip", "-o", "addr", "show", "dev", "eth0"};

class StateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/carp_fingerprint_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/state";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  void Write(const std::string& contents) { std::ofstream(path_, std::ios::trunc) << contents; }
  // Sets the file's modification time.
  void Touch(absl::Time when) {
    timeval times[2];
    times[0] = times[1] = absl::ToTimeval(when);
    ASSERT_EQ(utimes(path_.c_str(), times), 0);
  }
  ObserverOptions WithFile() {
    ObserverOptions options = Keepalived();
    options.state_file = path_;
    return options;
  }
  std::string dir_, path_;
};

TEST(KeepalivedObserverTest, DerivedFromTheVip) {
  FakeCommandRunner runner;
  runner.SetOutput(kIpEth0, ReadTestdata("linux-ip-addr-master.txt"));
  auto seen = MustMake(Keepalived(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kMaster);
  EXPECT_TRUE(seen->holds_vip);
  EXPECT_FALSE(seen->demote_count.has_value());
  EXPECT_EQ(seen->detail,
            "keepalived MASTER (derived from vip); 10.231.0.10 held (10.231.0.10 on eth0)");

  runner.SetOutput(kIpEth0, ReadTestdata("linux-ip-addr-backup.txt"));
  seen = MustMake(Keepalived(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kBackup);
  EXPECT_FALSE(seen->holds_vip);
  EXPECT_EQ(seen->detail, "keepalived BACKUP (derived from vip); 10.231.0.10 not held");
}

TEST(KeepalivedObserverTest, AllInterfacesAndIpv6) {
  FakeCommandRunner runner;
  runner.SetOutput({"/sbin/ip", "-o", "addr", "show"},
                   "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
                   "3: eth1    inet6 2001:db8::10/64 scope global \\       valid_lft forever\n");
  ObserverOptions options = Keepalived();
  options.interfaces.clear();
  options.vips = {"2001:0db8:0::0010"};
  auto seen = MustMake(options, &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_TRUE(seen->holds_vip);
  EXPECT_THAT(seen->vips_held, ElementsAre("2001:db8::10"));
}

TEST(KeepalivedObserverTest, IpFailure) {
  FakeCommandRunner runner;
  runner.SetOutput(kIpEth0, "", 1, "Device \"eth0\" does not exist.\n");
  auto observer = MustMake(Keepalived(), &runner);
  EXPECT_THAT(observer->Observe().status().message(), HasSubstr("does not exist"));
  EXPECT_FALSE(observer->CheckUsable().ok());
  runner.SetExecutable("/sbin/ip", false);
  EXPECT_THAT(observer->CheckUsable().message(), HasSubstr("ip_path"));
}

TEST_F(StateFileTest, FaultFromTheFile) {
  FakeCommandRunner runner;
  runner.SetOutput(kIpEth0, ReadTestdata("linux-ip-addr-backup.txt"));
  Write("FAULT\n");
  auto seen = MustMake(WithFile(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kFault);
  EXPECT_FALSE(seen->holds_vip);
  EXPECT_THAT(seen->detail, HasSubstr("keepalived FAULT (state file FAULT)"));
}

TEST_F(StateFileTest, TheKernelOverrulesABackupFile) {
  FakeCommandRunner runner;
  runner.SetOutput(kIpEth0, ReadTestdata("linux-ip-addr-master.txt"));
  Write(ReadTestdata("linux-notify-state.txt"));  // MASTER
  auto seen = MustMake(WithFile(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kMaster);

  Write("BACKUP\n");
  seen = MustMake(WithFile(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kMaster);
  EXPECT_THAT(seen->detail, HasSubstr("overruled"));
}

TEST_F(StateFileTest, MasterFileWithoutVipMeansMovedHookNotRunYet) {
  // keepalived removes the VIP before it runs the notify hook (keepalived/vrrp/vrrp.c,
  // vrrp_state_leave_master): between the two the file still says MASTER. The kernel is asked
  // first, so the node is BACKUP at once, without waiting for the hook.
  FakeCommandRunner runner;
  runner.SetOutput(kIpEth0, ReadTestdata("linux-ip-addr-backup.txt"));
  Write("MASTER\n");
  auto seen = MustMake(WithFile(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kBackup);
  EXPECT_FALSE(seen->holds_vip);
  EXPECT_THAT(seen->detail, HasSubstr("state file MASTER, no vip held: moved, the notify hook "
                                      "has not run yet"));
  Write("BACKUP\n");
  seen = MustMake(WithFile(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kBackup);
  EXPECT_THAT(seen->detail, HasSubstr("(state file BACKUP)"));
  // INIT and FAULT say more than "not held" and are kept; STOP reads as FAULT.
  for (const char* word : {"INIT\n", "STOP\n"}) {
    Write(word);
    seen = MustMake(WithFile(), &runner)->Observe();
    ASSERT_TRUE(seen.ok()) << seen.status();
    EXPECT_NE(seen->state, VrrpState::kBackup) << word;
    EXPECT_NE(seen->state, VrrpState::kMaster) << word;
  }
}

TEST_F(StateFileTest, MissingOrStaleFileFallsBackToTheVip) {
  FakeCommandRunner runner;
  runner.SetOutput(kIpEth0, ReadTestdata("linux-ip-addr-backup.txt"));
  auto seen = MustMake(WithFile(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kBackup);
  EXPECT_THAT(seen->detail, HasSubstr("state file missing"));

  Write("FAULT\n");
  const absl::Time written = absl::FromUnixSeconds(1795697743);
  Touch(written);
  ObserverOptions options = WithFile();
  options.state_file_max_age = absl::Seconds(30);
  options.now = [written] { return written + absl::Seconds(31); };
  seen = MustMake(options, &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kBackup);
  EXPECT_THAT(seen->detail, HasSubstr("stale"));

  options.now = [written] { return written + absl::Seconds(29); };
  EXPECT_EQ(MustMake(options, &runner)->Observe()->state, VrrpState::kFault);
}

TEST_F(StateFileTest, GarbageFileIsAnError) {
  FakeCommandRunner runner;
  runner.SetOutput(kIpEth0, ReadTestdata("linux-ip-addr-backup.txt"));
  Write(ReadTestdata("linux-keepalived-json.txt"));
  auto observer = MustMake(WithFile(), &runner);
  auto seen = observer->Observe();
  ASSERT_FALSE(seen.ok());
  EXPECT_THAT(seen.status().message(), HasSubstr(path_));
  EXPECT_FALSE(observer->CheckUsable().ok());
}

TEST_F(StateFileTest, StateFileAloneWithoutVips) {
  FakeCommandRunner runner;
  runner.SetOutput(kIpEth0, ReadTestdata("linux-ip-addr-master.txt"));
  ObserverOptions options = WithFile();
  options.vips.clear();
  auto observer = MustMake(options, &runner);
  EXPECT_EQ(observer->Observe()->state, VrrpState::kUnknown);  // nothing written yet
  EXPECT_TRUE(observer->CheckUsable().ok()) << "missing file is normal before the first notify";
  Write("INSTANCE VI_1 BACKUP 100\n");
  auto seen = observer->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kBackup);
  EXPECT_FALSE(seen->holds_vip);
}

TEST_F(StateFileTest, CheckUsableRejectsAMissingDirectory) {
  FakeCommandRunner runner;
  runner.SetOutput(kIpEth0, ReadTestdata("linux-ip-addr-master.txt"));
  ObserverOptions options = WithFile();
  options.state_file = dir_ + "/no/such/dir/state";
  EXPECT_THAT(MustMake(options, &runner)->CheckUsable().message(),
              HasSubstr("not in an existing directory"));
  options.state_file = dir_;  // a directory, not a file
  EXPECT_THAT(MustMake(options, &runner)->CheckUsable().message(), HasSubstr("not a regular file"));
}

// ---------------------------------------------------------------- command

TEST(CommandObserverTest, StateFromFirstWord) {
  FakeCommandRunner runner;
  ObserverOptions options;
  options.backend = BackendKind::kCommand;
  options.state_command = {"/usr/local/bin/vip-state", "--group", "edge"};
  options.vips = {"192.0.2.10"};
  runner.SetOutput(options.state_command, "\nbackup since 10:00\n");
  auto observer = MustMake(options, &runner);
  auto seen = observer->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kBackup);
  EXPECT_FALSE(seen->holds_vip);
  EXPECT_TRUE(observer->CheckUsable().ok());

  runner.SetOutput(options.state_command, "MASTER\n");
  seen = observer->Observe();
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->state, VrrpState::kMaster);
  EXPECT_TRUE(seen->holds_vip);
  EXPECT_THAT(seen->vips_held, ElementsAre("192.0.2.10"));
  EXPECT_THAT(seen->detail, HasSubstr("assumed from state"));

  runner.SetOutput(options.state_command, "primary\n");
  EXPECT_THAT(observer->Observe().status().message(), HasSubstr("primary"));
  runner.SetOutput(options.state_command, "");
  EXPECT_THAT(observer->Observe().status().message(), HasSubstr("printed nothing"));
  runner.SetOutput(options.state_command, "MASTER\n", 2, "no vrrp\n");
  EXPECT_THAT(observer->Observe().status().message(), HasSubstr("exited with status 2"));
  runner.SetExecutable("/usr/local/bin/vip-state", false);
  EXPECT_THAT(observer->CheckUsable().message(), HasSubstr("state_command"));
}

// ---------------------------------------------------------------- options

TEST(MakeNodeObserverTest, RejectsBadOptionsWithAFix) {
  FakeCommandRunner runner;
  auto expect_error = [&](ObserverOptions options, const char* substring) {
    auto made = MakeNodeObserver(options, &runner);
    ASSERT_FALSE(made.ok()) << substring;
    EXPECT_THAT(made.status().message(), HasSubstr(substring));
  };
  ObserverOptions options = OpenBsd();
  options.group.clear();
  options.interfaces.clear();
  expect_error(options, "needs group");
  options = OpenBsd();
  options.vips = {"192.0.2.300"};
  expect_error(options, "is not an IP address");
  options = OpenBsd();
  options.interfaces = {"-a"};
  expect_error(options, "not an interface name");
  options = OpenBsd();
  options.group = "carp edge";
  expect_error(options, "not an interface group name");
  options = OpenBsd();
  options.command_timeout = absl::ZeroDuration();
  expect_error(options, "must be positive");
  options = Keepalived();
  options.vips.clear();
  expect_error(options, "needs vip");
  options = ObserverOptions();
  options.backend = BackendKind::kCommand;
  expect_error(options, "needs state_command");
  EXPECT_FALSE(MakeNodeObserver(OpenBsd(), nullptr).ok());
}

TEST(MakeNodeObserverTest, VipWithPrefixIsAccepted) {
  FakeCommandRunner runner;
  runner.SetOutput(kIpEth0, ReadTestdata("linux-ip-addr-master.txt"));
  ObserverOptions options = Keepalived();
  options.vips = {"10.231.0.10/24"};
  auto seen = MustMake(options, &runner)->Observe();
  ASSERT_TRUE(seen.ok());
  EXPECT_THAT(seen->vips_held, ElementsAre("10.231.0.10"));
}

}  // namespace
}  // namespace carp_exec::fingerprint

namespace carp_exec::fingerprint {
namespace {

// The keepalived observer against the real iproute2 on this host: loopback always has
// 127.0.0.1 and never 192.0.2.10 (documentation range). Read-only; skipped without `ip`.
TEST(KeepalivedObserverRealIpTest, LoopbackThroughSystemCommandRunner) {
  SystemCommandRunner runner;
  if (!runner.CheckExecutable("/sbin/ip").ok()) GTEST_SKIP() << "no /sbin/ip on this host";
  ObserverOptions options = Keepalived();
  options.interfaces = {"lo"};
  options.vips = {"127.0.0.1", "192.0.2.10"};
  auto observer = MustMake(options, &runner);
  ASSERT_TRUE(observer->CheckUsable().ok()) << observer->CheckUsable();
  auto seen = observer->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kMaster);
  EXPECT_THAT(seen->vips_held, ElementsAre("127.0.0.1"));

  options.interfaces = {"carpexec-none0"};
  absl::Status missing = MustMake(options, &runner)->CheckUsable();
  EXPECT_THAT(missing.message(), HasSubstr("carpexec-none0"));
}

// observe_in_kernel: the same look through a netlink dump of this host's addresses
// (fingerprint/netlink_addresses.h), without running anything. Linux only.
TEST(KeepalivedObserverKernelTest, LoopbackThroughNetlinkWithoutAFork) {
  if (!KernelAddressesAvailable()) GTEST_SKIP() << "no netlink in this build";
  FakeCommandRunner runner;  // answers nothing: any command run would fail the observation
  ObserverOptions options = Keepalived();
  options.observe_in_kernel = true;
  options.interfaces = {"lo"};
  options.vips = {"127.0.0.1", "192.0.2.10"};
  const uint64_t spawned = ProcessesSpawned();
  auto observer = MustMake(options, &runner);
  runner.SetExecutable("/sbin/ip", false);  // not needed: CheckUsable must not ask for it
  ASSERT_TRUE(observer->CheckUsable().ok()) << observer->CheckUsable();
  auto seen = observer->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kMaster);
  EXPECT_THAT(seen->vips_held, ElementsAre("127.0.0.1"));
  EXPECT_THAT(seen->detail, HasSubstr("127.0.0.1 on lo"));
  EXPECT_TRUE(runner.calls().empty());
  EXPECT_EQ(ProcessesSpawned(), spawned);

  options.vips = {"192.0.2.10"};
  seen = MustMake(options, &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kBackup);

  options.interfaces = {"carpexec-none0"};
  absl::Status missing = MustMake(options, &runner)->CheckUsable();
  EXPECT_THAT(missing.message(), HasSubstr("\"carpexec-none0\" does not exist"));
}

TEST(KeepalivedObserverKernelTest, RefusedWhereTheBuildCannot) {
  FakeCommandRunner runner;
  ObserverOptions options;
  options.backend = BackendKind::kCommand;
  options.state_command = {"/bin/echo", "MASTER"};
  options.observe_in_kernel = true;
  absl::StatusOr<std::unique_ptr<NodeObserver>> made = MakeNodeObserver(options, &runner);
  ASSERT_FALSE(made.ok());
  EXPECT_THAT(made.status().message(), HasSubstr("observe_via = \"tool\""));
}

}  // namespace
}  // namespace carp_exec::fingerprint
