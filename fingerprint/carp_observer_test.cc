// The openbsd-carp and freebsd-carp NodeObservers, driven through FakeCommandRunner with the
// shared fixtures.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fingerprint/fake_command_runner.h"
#include "fingerprint/node_observer.h"
#include "fingerprint/testdata_reader.h"

namespace carp_exec::fingerprint {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::unique_ptr<NodeObserver> MustMake(const ObserverOptions& options, CommandRunner* runner) {
  auto observer = MakeNodeObserver(options, runner);
  EXPECT_TRUE(observer.ok()) << observer.status();
  return observer.ok() ? *std::move(observer) : nullptr;
}

const std::vector<std::string> kIfconfigCarp0 = {"/sbin/ifconfig", "carp0"};
const std::vector<std::string> kIfconfigCarp1 = {"/sbin/ifconfig", "carp1"};
const std::vector<std::string> kDemoteCarp = {"/sbin/ifconfig", "-g", "carp"};

ObserverOptions OpenBsd() {
  ObserverOptions options;
  options.backend = BackendKind::kOpenBsdCarp;
  options.group = "carp";
  options.interfaces = {"carp0"};
  options.vips = {"192.0.2.10"};
  return options;
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
  options.backend = BackendKind::kFreeBsdCarp;
  options.interfaces = {"vtnet1"};
  options.vips = {"192.0.2.10"};
  return options;
}

const std::vector<std::string> kSysctl = {"/sbin/sysctl", "-n", "net.inet.carp.demotion"};

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

}  // namespace
}  // namespace carp_exec::fingerprint
