// NodeObserver backends driven through FakeCommandRunner with the shared fixtures.

#include "fingerprint/node_observer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>

#include "fingerprint/fake_command_runner.h"
#include "fingerprint/testdata_reader.h"

namespace carp_exec::fingerprint {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::vector<std::string> kIfconfigCarp0 = {"/sbin/ifconfig", "carp0"};
const std::vector<std::string> kIfconfigCarp1 = {"/sbin/ifconfig", "carp1"};
const std::vector<std::string> kDemoteCarp = {"/sbin/ifconfig", "-g", "carp"};

ObserverOptions OpenBsd() {
  ObserverOptions options;
  options.backend = "openbsd-carp";
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

// ---------------------------------------------------------------- openbsd-carp

TEST(OpenBsdObserverTest, MasterHoldsTheVip) {
  FakeCommandRunner runner;
  runner.SetOutput(kIfconfigCarp0, ReadTestdata("openbsd-ifconfig-carp0-master.txt"));
  runner.SetOutput(kDemoteCarp, ReadTestdata("openbsd-ifconfig-g-carp-0.txt"));
  auto observer = MustMake(OpenBsd(), &runner);
  auto seen = observer->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kMaster);
  EXPECT_TRUE(seen->holds_vip);
  EXPECT_THAT(seen->vips_held, ElementsAre("192.0.2.10"));
  EXPECT_EQ(seen->demote_count, 0);
  EXPECT_EQ(seen->detail, "carp0 MASTER vhid 1; 192.0.2.10 held; demote 0");
  EXPECT_THAT(runner.timeouts(), ::testing::Each(absl::Seconds(2)));
}

TEST(OpenBsdObserverTest, BackupKeepsTheAddressButDoesNotHoldIt) {
  FakeCommandRunner runner;
  runner.SetOutput(kIfconfigCarp0, ReadTestdata("openbsd-ifconfig-carp0-backup-demoted.txt"));
  runner.SetOutput(kDemoteCarp, ReadTestdata("openbsd-ifconfig-g-carp-50.txt"));
  auto seen = MustMake(OpenBsd(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kBackup);
  EXPECT_FALSE(seen->holds_vip);
  EXPECT_THAT(seen->vips_held, IsEmpty());
  EXPECT_EQ(seen->demote_count, 50);
  EXPECT_EQ(seen->detail, "carp0 BACKUP vhid 1; 192.0.2.10 not held; demote 50");
}

TEST(OpenBsdObserverTest, InitIsNeitherMasterNorBackup) {
  FakeCommandRunner runner;
  runner.SetOutput(kIfconfigCarp0, ReadTestdata("openbsd-ifconfig-carp0-init.txt"));
  runner.SetOutput(kDemoteCarp, ReadTestdata("openbsd-ifconfig-g-carp-0.txt"));
  auto seen = MustMake(OpenBsd(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kInit);
  EXPECT_FALSE(seen->holds_vip);
}

TEST(OpenBsdObserverTest, CarpnodesHeldWhileAnyVhidIsMaster) {
  FakeCommandRunner runner;
  runner.SetOutput({"/sbin/ifconfig", "carp2"},
                   ReadTestdata("openbsd-ifconfig-carp2-carpnodes-balancing.txt"));
  runner.SetOutput(kDemoteCarp, ReadTestdata("openbsd-ifconfig-g-carp-0.txt"));
  ObserverOptions options = OpenBsd();
  options.interfaces = {"carp2"};
  options.vips = {"192.0.2.30"};
  auto seen = MustMake(options, &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kMaster);
  EXPECT_TRUE(seen->holds_vip);
  EXPECT_THAT(seen->detail, HasSubstr("carp2 MASTER vhid 3 BACKUP vhid 4"));
}

TEST(OpenBsdObserverTest, AggregatesOverInterfaces) {
  struct Case {
    const char* carp0;
    VrrpState want;
  };
  for (const Case& c : {Case{"openbsd-ifconfig-carp0-master.txt", VrrpState::kMaster},
                        Case{"openbsd-ifconfig-carp0-backup-demoted.txt", VrrpState::kBackup},
                        Case{"openbsd-ifconfig-carp0-init.txt", VrrpState::kInit}}) {
    FakeCommandRunner runner;
    runner.SetOutput(kIfconfigCarp0, ReadTestdata(c.carp0));
    runner.SetOutput(kIfconfigCarp1,
                     ReadTestdata("openbsd-ifconfig-carp1-backup-unicast-peer.txt"));
    runner.SetOutput(kDemoteCarp, ReadTestdata("openbsd-ifconfig-g-carp-0.txt"));
    ObserverOptions options = OpenBsd();
    options.interfaces = {"carp0", "carp1"};
    options.vips = {"192.0.2.10", "192.0.2.20"};
    auto seen = MustMake(options, &runner)->Observe();
    ASSERT_TRUE(seen.ok()) << seen.status();
    EXPECT_EQ(seen->state, c.want) << c.carp0;
    EXPECT_EQ(seen->holds_vip, c.want == VrrpState::kMaster) << c.carp0;
  }
}

TEST(OpenBsdObserverTest, WithoutInterfacesObservesTheGroupMembers) {
  FakeCommandRunner runner;
  runner.SetOutput({"/sbin/ifconfig", "edge"},
                   ReadTestdata("openbsd-ifconfig-carp1-backup-unicast-peer.txt"));
  runner.SetOutput({"/sbin/ifconfig", "-g", "edge"}, "edge: carp demote count 50\n");
  ObserverOptions options = OpenBsd();
  options.group = "edge";
  options.interfaces.clear();
  options.vips.clear();
  auto observer = MustMake(options, &runner);
  auto seen = observer->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kBackup);
  EXPECT_FALSE(seen->holds_vip);
  EXPECT_EQ(seen->demote_count, 50);
  EXPECT_EQ(seen->detail, "carp1 BACKUP vhid 2; no address held; demote 50");
  EXPECT_TRUE(observer->CheckUsable().ok());
}

TEST(OpenBsdObserverTest, WithoutVipsEveryMasterAddressIsHeldExceptLinkLocal) {
  FakeCommandRunner runner;
  runner.SetOutput(kIfconfigCarp0,
                   ReadTestdata("openbsd-ifconfig-carp0-master.txt") +
                       "\tinet6 fe80::200:5eff:fe00:101%carp0 prefixlen 64 scopeid 0x5\n"
                       "\tinet6 2001:db8::10 prefixlen 64\n");
  runner.SetOutput(kDemoteCarp, ReadTestdata("openbsd-ifconfig-g-carp-0.txt"));
  ObserverOptions options = OpenBsd();
  options.vips.clear();
  auto seen = MustMake(options, &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_THAT(seen->vips_held, ElementsAre("192.0.2.10", "2001:db8::10"));
}

TEST(OpenBsdObserverTest, PollingSeesTheMove) {
  FakeCommandRunner runner;
  runner.QueueResult(
      kIfconfigCarp0,
      CommandResult{0, 0, false, ReadTestdata("openbsd-ifconfig-carp0-master.txt"), "", false});
  runner.QueueResult(
      kIfconfigCarp0,
      CommandResult{0, 0, false, ReadTestdata("openbsd-ifconfig-carp0-backup-demoted.txt"), "",
                    false});
  runner.SetOutput(kDemoteCarp, ReadTestdata("openbsd-ifconfig-g-carp-50.txt"));
  auto observer = MustMake(OpenBsd(), &runner);
  EXPECT_EQ(observer->Observe()->state, VrrpState::kMaster);
  EXPECT_EQ(observer->Observe()->state, VrrpState::kBackup);
  EXPECT_EQ(observer->Observe()->state, VrrpState::kBackup);  // the last one repeats
  EXPECT_EQ(runner.CallCount(kIfconfigCarp0), 3);
}

TEST(OpenBsdObserverTest, CommandFailuresNameCommandOutputAndFix) {
  FakeCommandRunner runner;
  runner.SetOutput({"/sbin/ifconfig", "carp9"}, "", 1, "ifconfig: carp9: no such interface\n");
  runner.SetOutput(kDemoteCarp, ReadTestdata("openbsd-ifconfig-g-carp-0.txt"));
  ObserverOptions options = OpenBsd();
  options.interfaces = {"carp9"};
  auto observer = MustMake(options, &runner);
  auto seen = observer->Observe();
  ASSERT_FALSE(seen.ok());
  EXPECT_THAT(seen.status().message(), HasSubstr("`/sbin/ifconfig carp9`"));
  EXPECT_THAT(seen.status().message(), HasSubstr("no such interface"));
  EXPECT_THAT(seen.status().message(), HasSubstr("fix failover interfaces"));
  EXPECT_EQ(observer->CheckUsable().message(), seen.status().message());
}

TEST(OpenBsdObserverTest, TimeoutAndStartFailure) {
  FakeCommandRunner runner;
  CommandResult killed;
  killed.term_signal = 9;
  killed.timed_out = true;
  runner.SetResult(kIfconfigCarp0, killed);
  runner.SetOutput(kDemoteCarp, ReadTestdata("openbsd-ifconfig-g-carp-0.txt"));
  auto seen = MustMake(OpenBsd(), &runner)->Observe();
  ASSERT_FALSE(seen.ok());
  EXPECT_EQ(seen.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(seen.status().message(), HasSubstr("within 2s"));

  runner.SetResult(kIfconfigCarp0, absl::NotFoundError("\"/sbin/ifconfig\": No such file"));
  seen = MustMake(OpenBsd(), &runner)->Observe();
  EXPECT_EQ(seen.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(seen.status().message(), HasSubstr("cannot run `/sbin/ifconfig carp0`"));
}

TEST(OpenBsdObserverTest, UnparseableOutputIsAnError) {
  FakeCommandRunner runner;
  runner.SetOutput(kIfconfigCarp0, "carp0: flags=8843<UP> mtu 1500\n\tcarp: WEIRD vhid 1\n");
  runner.SetOutput(kDemoteCarp, ReadTestdata("openbsd-ifconfig-g-carp-0.txt"));
  auto seen = MustMake(OpenBsd(), &runner)->Observe();
  ASSERT_FALSE(seen.ok());
  EXPECT_THAT(seen.status().message(), HasSubstr("WEIRD"));

  runner.SetOutput(kIfconfigCarp0, ReadTestdata("openbsd-ifconfig-carp1-backup-unicast-peer.txt"));
  seen = MustMake(OpenBsd(), &runner)->Observe();
  ASSERT_FALSE(seen.ok()) << "asked for carp0, ifconfig described carp1";
  EXPECT_THAT(seen.status().message(), HasSubstr("carp1"));

  runner.SetOutput(kIfconfigCarp0, ReadTestdata("openbsd-ifconfig-carp0-master.txt"));
  runner.SetOutput(kDemoteCarp, "edge: carp demote count 0\n");
  EXPECT_FALSE(MustMake(OpenBsd(), &runner)->Observe().ok()) << "asked for group carp";
}

TEST(OpenBsdObserverTest, CheckUsable) {
  FakeCommandRunner runner;
  runner.SetOutput(kIfconfigCarp0, ReadTestdata("openbsd-ifconfig-carp0-backup-demoted.txt"));
  runner.SetOutput(kDemoteCarp, ReadTestdata("openbsd-ifconfig-g-carp-0.txt"));
  EXPECT_TRUE(MustMake(OpenBsd(), &runner)->CheckUsable().ok());

  ObserverOptions typo = OpenBsd();
  typo.vips = {"192.0.2.99"};
  absl::Status status = MustMake(typo, &runner)->CheckUsable();
  EXPECT_THAT(status.message(), HasSubstr("192.0.2.99 is not configured"));
  auto seen = MustMake(typo, &runner)->Observe();
  ASSERT_TRUE(seen.ok());
  EXPECT_THAT(seen->detail, HasSubstr("192.0.2.99 not configured here"));

  runner.SetOutput({"/sbin/ifconfig", "-g", "nosuch"}, "", 1,
                   "ifconfig: nosuch: SIOCGIFGATTR: Invalid argument\n");
  ObserverOptions bad_group = OpenBsd();
  bad_group.group = "nosuch";
  status = MustMake(bad_group, &runner)->CheckUsable();
  EXPECT_THAT(status.message(), HasSubstr("nosuch"));
  EXPECT_THAT(status.message(), HasSubstr("failover group"));

  runner.SetOutput({"/sbin/ifconfig", "carp5"},
                   "carp5: flags=8802<BROADCAST> mtu 1500\n\tgroups: carp\n");
  ObserverOptions no_vhid = OpenBsd();
  no_vhid.interfaces = {"carp5"};
  no_vhid.vips.clear();
  status = MustMake(no_vhid, &runner)->CheckUsable();
  EXPECT_THAT(status.message(), HasSubstr("carp5 has no carp vhid"));
  EXPECT_EQ(MustMake(no_vhid, &runner)->Observe()->state, VrrpState::kUnknown);

  runner.SetExecutable("/sbin/ifconfig", false);
  status = MustMake(OpenBsd(), &runner)->CheckUsable();
  EXPECT_THAT(status.message(), HasSubstr("ifconfig_path \"/sbin/ifconfig\" is not usable"));
}

TEST(OpenBsdObserverTest, ToolPathIsConfigurable) {
  FakeCommandRunner runner;
  runner.SetOutput({"/opt/fake/ifconfig", "carp0"},
                   ReadTestdata("openbsd-ifconfig-carp0-master.txt"));
  runner.SetOutput({"/opt/fake/ifconfig", "-g", "carp"},
                   ReadTestdata("openbsd-ifconfig-g-carp-0.txt"));
  ObserverOptions options = OpenBsd();
  options.ifconfig_path = "/opt/fake/ifconfig";
  options.command_timeout = absl::Milliseconds(250);
  ASSERT_TRUE(MustMake(options, &runner)->Observe().ok());
  EXPECT_THAT(runner.timeouts(), ::testing::Each(absl::Milliseconds(250)));
}

// ---------------------------------------------------------------- freebsd-carp

ObserverOptions FreeBsd() {
  ObserverOptions options;
  options.backend = "freebsd-carp";
  options.interfaces = {"vtnet1"};
  options.vips = {"192.0.2.10"};
  return options;
}

const std::vector<std::string> kSysctl = {"/sbin/sysctl", "net.inet.carp.demotion"};

TEST(FreeBsdObserverTest, MasterAndBackup) {
  FakeCommandRunner runner;
  runner.SetOutput({"/sbin/ifconfig", "vtnet1"},
                   ReadTestdata("freebsd-ifconfig-vtnet1-master.txt"));
  runner.SetOutput(kSysctl, ReadTestdata("freebsd-sysctl-carp-demotion-0.txt"));
  auto seen = MustMake(FreeBsd(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kMaster);
  EXPECT_TRUE(seen->holds_vip);
  EXPECT_EQ(seen->demote_count, 0);
  EXPECT_EQ(seen->detail, "vtnet1 MASTER vhid 1; 192.0.2.10 held; demote 0");

  runner.SetOutput({"/sbin/ifconfig", "vtnet1"},
                   ReadTestdata("freebsd-ifconfig-vtnet1-backup.txt"));
  runner.SetOutput(kSysctl, ReadTestdata("freebsd-sysctl-carp-demotion-240.txt"));
  seen = MustMake(FreeBsd(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kBackup);
  EXPECT_FALSE(seen->holds_vip);
  EXPECT_EQ(seen->demote_count, 240);
}

TEST(FreeBsdObserverTest, HeldFollowsTheAddressVhid) {
  FakeCommandRunner runner;
  runner.SetOutput({"/sbin/ifconfig", "-a"},
                   "em0: flags=8843<UP> metric 0 mtu 1500\n"
                   "\tinet 192.0.2.11 netmask 0xffffff00\n"
                   "\tinet 192.0.2.10 netmask 0xffffff00 vhid 1\n"
                   "\tinet 192.0.2.20 netmask 0xffffff00 vhid 2\n"
                   "\tcarp: BACKUP vhid 1 advbase 1 advskew 0\n"
                   "\tcarp: MASTER vhid 2 advbase 1 advskew 0\n"
                   "lo0: flags=8049<UP,LOOPBACK> metric 0 mtu 16384\n"
                   "\tinet 127.0.0.1 netmask 0xff000000\n");
  runner.SetOutput(kSysctl, "net.inet.carp.demotion: 0\n");
  ObserverOptions options = FreeBsd();
  options.interfaces.clear();  // every interface with a vhid: em0 only
  options.vips = {"192.0.2.10", "192.0.2.20", "192.0.2.11"};
  auto seen = MustMake(options, &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kMaster);
  // .10 is on BACKUP vhid 1; .20 on MASTER vhid 2; .11 is a plain address that always answers.
  EXPECT_THAT(seen->vips_held, ElementsAre("192.0.2.11", "192.0.2.20"));
  EXPECT_THAT(seen->detail, HasSubstr("em0 BACKUP vhid 1 MASTER vhid 2"));
}

TEST(FreeBsdObserverTest, CheckUsableNamesSysctl) {
  FakeCommandRunner runner;
  runner.SetExecutable("/sbin/sysctl", false);
  absl::Status status = MustMake(FreeBsd(), &runner)->CheckUsable();
  EXPECT_THAT(status.message(), HasSubstr("sysctl_path"));

  FakeCommandRunner no_carp;
  no_carp.SetOutput(kSysctl, "", 1, "sysctl: unknown oid 'net.inet.carp.demotion'\n");
  status = MustMake(FreeBsd(), &no_carp)->CheckUsable();
  EXPECT_THAT(status.message(), HasSubstr("kldload carp"));
}

// ---------------------------------------------------------------- keepalived

ObserverOptions Keepalived() {
  ObserverOptions options;
  options.backend = "keepalived";
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

TEST_F(StateFileTest, MasterFileWithoutVipStaysMaster) {
  // Between the VIP removal and the hook's write (a few ms) the file still says MASTER; the
  // handshake must keep waiting, so the file's word is kept.
  FakeCommandRunner runner;
  runner.SetOutput(kIpEth0, ReadTestdata("linux-ip-addr-backup.txt"));
  Write("MASTER\n");
  auto seen = MustMake(WithFile(), &runner)->Observe();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(seen->state, VrrpState::kMaster);
  EXPECT_FALSE(seen->holds_vip);
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
  options.backend = "command";
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
  options.backend = "vrrpd";
  expect_error(options, "\"vrrpd\" is unknown");
  options = OpenBsd();
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
  options.backend = "command";
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
