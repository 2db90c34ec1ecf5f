#include "driver/config/plugin_config.h"

#include <set>

#include "driver/config/cty_encoder.h"
#include "driver/config/hex_for_tests.h"
#include "gtest/gtest.h"

namespace carp_exec::config {
namespace {

using V = CtyValue;

// What Nomad would send for this agent config (schema defaults applied).
absl::StatusOr<PluginConfig> DecodeLikeNomad(const CtyValue& config) {
  absl::StatusOr<std::string> bytes = EncodeCtyForSchema(config, PluginConfigSchema());
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  if (!bytes.ok()) return bytes.status();
  return DecodePluginConfig(*bytes);
}

// What a sloppy encoder would send: only the given keys, with their own types.
std::string DecodeError(const CtyValue& config) {
  absl::StatusOr<std::string> bytes = EncodeCtyMsgpack(config);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<PluginConfig> decoded = DecodePluginConfig(*bytes);
  EXPECT_FALSE(decoded.ok());
  return decoded.ok() ? "(decoded)" : std::string(decoded.status().message());
}

// openbsd-carp requires a dedicated group; tests that are about something else get "edge".
CtyValue WithFailover(std::vector<CtyValue::Entry> failover) {
  bool openbsd = false, has_group = false;
  for (const CtyValue::Entry& entry : failover) {
    has_group = has_group || entry.first == "group";
    openbsd =
        openbsd || (entry.first == "backend" && entry.second.kind() == CtyValue::Kind::kString &&
                    entry.second.string() == "openbsd-carp");
  }
  if (openbsd && !has_group) failover.emplace_back("group", V::String("edge"));
  return V::Map({{"failover", V::Map(std::move(failover))}});
}

void ExpectDefaults(const PluginConfig& config) {
  EXPECT_EQ(config.log_level, log::Level::kInfo);
  EXPECT_EQ(config.state_dir, "/var/lib/carp_exec");  // Linux build
  EXPECT_TRUE(config.enabled);
  EXPECT_TRUE(config.denied_host_uids.empty());
  EXPECT_TRUE(config.denied_host_gids.empty());
  EXPECT_TRUE(config.denied_envvars.empty());
  EXPECT_FALSE(config.failover.has_value());
}

TEST(PluginConfigTest, NothingSentMeansDefaults) {
  absl::StatusOr<PluginConfig> empty = DecodePluginConfig("");
  ASSERT_TRUE(empty.ok()) << empty.status();
  ExpectDefaults(*empty);
  absl::StatusOr<PluginConfig> nil = DecodePluginConfig(BytesFromHex("c0"));
  ASSERT_TRUE(nil.ok());
  ExpectDefaults(*nil);
  absl::StatusOr<PluginConfig> nomad = DecodeLikeNomad(V::Null());
  ASSERT_TRUE(nomad.ok()) << nomad.status();
  ExpectDefaults(*nomad);
  absl::StatusOr<PluginConfig> nulls = DecodePluginConfig(*EncodeCtyMsgpack(
      V::Map({{"log_level", V::Null()}, {"enabled", V::Null()}, {"failover", V::Null()}})));
  ASSERT_TRUE(nulls.ok()) << nulls.status();
  ExpectDefaults(*nulls);
}

TEST(PluginConfigTest, GivenValuesWin) {
  absl::StatusOr<PluginConfig> config = DecodeLikeNomad(V::Map({
      {"log_level", V::String("DEBUG")},
      {"state_dir", V::String("/srv/carp")},
      {"enabled", V::Bool(false)},
      {"denied_host_uids", V::String("0-100,600")},
      {"denied_host_gids", V::String("0")},
      {"denied_envvars", V::StringList({"AWS_*", "SECRET"})},
  }));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->log_level, log::Level::kDebug);
  EXPECT_EQ(config->state_dir, "/srv/carp");
  EXPECT_FALSE(config->enabled);
  EXPECT_EQ(config->denied_host_uids, (std::vector<IdRange>{{0, 100}, {600, 600}}));
  EXPECT_EQ(config->denied_host_gids, (std::vector<IdRange>{{0, 0}}));
  EXPECT_EQ(config->denied_envvars, (std::vector<std::string>{"AWS_*", "SECRET"}));
}

TEST(PluginConfigTest, OpenBsdGroupIsRequiredAndNeverRcsInterlockGroup) {
  EXPECT_EQ(DecodeError(V::Map({{"failover", V::Map({{"backend", V::String("openbsd-carp")}})}})),
            "plugin config: failover.group is required for backend \"openbsd-carp\": give the "
            "carp interface that carries the FailOver IP a group of its own (`ifconfig carp1 "
            "group edge`, and `group edge` in /etc/hostname.carp1) and set group = \"edge\"");
  std::string carp = DecodeError(
      WithFailover({{"backend", V::String("openbsd-carp")}, {"group", V::String("carp")}}));
  EXPECT_NE(carp.find("failover.group must not be \"carp\""), std::string::npos) << carp;
  EXPECT_NE(carp.find("/etc/rc demotes group carp by 128"), std::string::npos) << carp;
  EXPECT_NE(carp.find("set group = \"edge\""), std::string::npos) << carp;
}

TEST(PluginConfigTest, DemoteViaKernelNeedsABsdBuild) {
  EXPECT_EQ(DecodeError(WithFailover(
                {{"backend", V::String("freebsd-carp")}, {"demote_via", V::String("kernel")}})),
            "plugin config: failover.demote_via is \"kernel\", but this build has no in-process "
            "demotion (OpenBSD and FreeBSD builds only); set demote_via = \"tool\"");
  EXPECT_EQ(DecodeError(WithFailover(
                {{"backend", V::String("openbsd-carp")}, {"demote_via", V::String("ioctl")}})),
            "plugin config: failover.demote_via must be \"kernel\" or \"tool\", got \"ioctl\"");
  // Other backends never use it.
  EXPECT_TRUE(DecodeLikeNomad(WithFailover({{"backend", V::String("command")},
                                            {"demote_via", V::String("kernel")},
                                            {"demote_command", V::StringList({"/bin/true"})},
                                            {"restore_command", V::StringList({"/bin/true"})},
                                            {"state_command", V::StringList({"/bin/true"})}}))
                  .ok());
}

// Linux build: keepalived is observed through netlink by default; the BSD backends cannot be.
TEST(PluginConfigTest, ObserveViaDefaultsToTheKernelWhereTheBuildCan) {
  absl::StatusOr<PluginConfig> config = DecodeLikeNomad(WithFailover(
      {{"backend", V::String("keepalived")}, {"track_file", V::String("/run/carp_exec/demote")}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->failover->observe_via, "kernel");
  config = DecodeLikeNomad(WithFailover({{"backend", V::String("keepalived")},
                                         {"track_file", V::String("/run/carp_exec/demote")},
                                         {"observe_via", V::String("tool")}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->failover->observe_via, "tool");
  EXPECT_EQ(DecodeError(WithFailover(
                {{"backend", V::String("freebsd-carp")}, {"observe_via", V::String("kernel")}})),
            "plugin config: failover.observe_via is \"kernel\", but this build cannot observe "
            "backend \"freebsd-carp\" in-process (keepalived: Linux builds, openbsd-carp: "
            "OpenBSD, freebsd-carp: FreeBSD); set observe_via = \"tool\"");
  EXPECT_EQ(DecodeError(WithFailover({{"backend", V::String("keepalived")},
                                      {"track_file", V::String("/run/carp_exec/demote")},
                                      {"observe_via", V::String("netlink")}})),
            "plugin config: failover.observe_via must be \"kernel\" or \"tool\", got "
            "\"netlink\"");
}

TEST(PluginConfigTest, FailoverDefaults) {
  absl::StatusOr<PluginConfig> config =
      DecodeLikeNomad(WithFailover({{"backend", V::String("openbsd-carp")}}));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->failover.has_value());
  const FailoverConfig& f = *config->failover;
  EXPECT_EQ(f.backend, FailoverBackend::kOpenBsdCarp);
  EXPECT_EQ(f.group, "edge");
  EXPECT_EQ(f.interfaces, (std::vector<std::string>{"carp0"}));
  EXPECT_EQ(f.demote_by, 50);
  EXPECT_TRUE(f.vip.empty());
  EXPECT_EQ(f.confirm_timeout, absl::Seconds(10));
  EXPECT_EQ(f.poll_interval, absl::Milliseconds(50));
  EXPECT_EQ(f.settle, absl::ZeroDuration());
  EXPECT_TRUE(f.confirm_command.empty());
  EXPECT_TRUE(f.track_file.empty());
  EXPECT_TRUE(f.state_file.empty());
  EXPECT_TRUE(f.demote_command.empty());
  EXPECT_EQ(f.ifconfig_path, "/sbin/ifconfig");
  EXPECT_EQ(f.sysctl_path, "/sbin/sysctl");
  EXPECT_EQ(f.ip_path, "/sbin/ip");
  EXPECT_EQ(f.demote_via, "tool");   // Linux build: no in-process demotion
  EXPECT_EQ(f.observe_via, "tool");  // openbsd-carp can be observed in-process on OpenBSD only

  // Only openbsd-carp derives interfaces.
  absl::StatusOr<PluginConfig> freebsd =
      DecodeLikeNomad(WithFailover({{"backend", V::String("freebsd-carp")}}));
  ASSERT_TRUE(freebsd.ok()) << freebsd.status();
  EXPECT_TRUE(freebsd->failover->interfaces.empty());
  // FreeBSD's demotion only adds to advskew, capped at 240: the default step crosses any gap.
  EXPECT_EQ(freebsd->failover->demote_by, 240);
  EXPECT_EQ(freebsd->failover->handover, "weighted");
  // keepalived: the default step leaves priority 1 (below any peer), so the default hand-over
  // can resign.
  absl::StatusOr<PluginConfig> keepalived = DecodeLikeNomad(
      WithFailover({{"backend", V::String("keepalived")}, {"track_file", V::String("/run/t")}}));
  ASSERT_TRUE(keepalived.ok()) << keepalived.status();
  EXPECT_EQ(keepalived->failover->demote_by, 253);
  EXPECT_EQ(keepalived->failover->handover, "resign");
  EXPECT_EQ(keepalived->failover->vrid, 0);
  // A bare block sent without schema defaults gets them from the table too.
  absl::StatusOr<PluginConfig> bare =
      DecodePluginConfig(*EncodeCtyMsgpack(WithFailover({{"backend", V::String("openbsd-carp")}})));
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(bare->failover->demote_by, 50);
  EXPECT_EQ(bare->failover->poll_interval, absl::Milliseconds(50));
}

TEST(PluginConfigTest, FullKeepalivedAndCommandConfigs) {
  absl::StatusOr<PluginConfig> keepalived = DecodeLikeNomad(WithFailover({
      {"backend", V::String("keepalived")},
      {"interfaces", V::StringList({"eth0"})},
      {"demote_by", V::Int(253)},
      {"vip", V::StringList({"192.0.2.10", "2001:db8::10"})},
      {"handover", V::String("resign")},
      {"vrid", V::Int(51)},
      {"confirm_timeout", V::String("1m30s")},
      {"poll_interval", V::String("250ms")},
      {"settle", V::String("2s")},
      {"confirm_command", V::StringList({"/usr/local/bin/moved", "-q"})},
      {"track_file", V::String("/run/carp_exec/demote")},
      {"state_file", V::String("/run/keepalived/state")},
      {"ip_path", V::String("/usr/sbin/ip")},
  }));
  ASSERT_TRUE(keepalived.ok()) << keepalived.status();
  const FailoverConfig& f = *keepalived->failover;
  EXPECT_EQ(f.backend, FailoverBackend::kKeepalived);
  EXPECT_EQ(f.interfaces, (std::vector<std::string>{"eth0"}));
  EXPECT_EQ(f.demote_by, 253);
  EXPECT_EQ(f.handover, "resign");
  EXPECT_EQ(f.vrid, 51);
  ASSERT_EQ(f.vip.size(), 2u);
  EXPECT_EQ(f.vip[1].text, "2001:db8::10");
  EXPECT_EQ(f.confirm_timeout, absl::Seconds(90));
  EXPECT_EQ(f.poll_interval, absl::Milliseconds(250));
  EXPECT_EQ(f.settle, absl::Seconds(2));
  EXPECT_EQ(f.confirm_command.size(), 2u);
  EXPECT_EQ(f.track_file, "/run/carp_exec/demote");
  EXPECT_EQ(f.state_file, "/run/keepalived/state");
  EXPECT_EQ(f.ip_path, "/usr/sbin/ip");

  absl::StatusOr<PluginConfig> command = DecodeLikeNomad(WithFailover({
      {"backend", V::String("command")},
      {"demote_by", V::Int(100000)},
      {"demote_command", V::StringList({"/bin/demote"})},
      {"restore_command", V::StringList({"/bin/restore"})},
      {"state_command", V::StringList({"/bin/state"})},
  }));
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->failover->demote_by, 100000);
}

TEST(PluginConfigTest, NumbersInEveryWireForm) {
  const std::pair<const char*, int> cases[] = {
      {"05", 5},
      {"cc 64", 100},
      {"cd 00 64", 100},
      {"ce 00 00 00 64", 100},
      {"d0 64", 100},
      {"d3 00 00 00 00 00 00 00 64", 100},
      {"cb 40 59 00 00 00 00 00 00", 100},
      {"ca 42 c8 00 00", 100},
      {"a3 31 30 30", 100},
      {"a5 31 65 2b 30 32", 100},
  };
  for (const auto& [hex, expected] : cases) {
    // {"failover": {"backend": "command", "demote_by": <n>, ...commands}}
    std::string bytes = BytesFromHex("81 a8") + "failover" + BytesFromHex("85 a7") + "backend" +
                        BytesFromHex("a7") + "command" + BytesFromHex("a9") + "demote_by" +
                        BytesFromHex(hex);
    for (const char* name : {"demote_command", "restore_command", "state_command"}) {
      bytes +=
          std::string(1, static_cast<char>(0xa0 | strlen(name))) + name + BytesFromHex("91 a1 78");
    }
    absl::StatusOr<PluginConfig> config = DecodePluginConfig(bytes);
    ASSERT_TRUE(config.ok()) << hex << ": " << config.status();
    EXPECT_EQ(config->failover->demote_by, expected) << hex;
  }
}

TEST(PluginConfigTest, DemoteByLimitsFollowTheBackend) {
  EXPECT_EQ(DecodeError(
                WithFailover({{"backend", V::String("openbsd-carp")}, {"demote_by", V::Int(500)}})),
            "plugin config: failover.demote_by must be a whole number from 1 to 128, got 500");
  EXPECT_EQ(DecodeError(
                WithFailover({{"backend", V::String("freebsd-carp")}, {"demote_by", V::Int(241)}})),
            "plugin config: failover.demote_by must be a whole number from 1 to 240, got 241");
  EXPECT_EQ(DecodeError(WithFailover({{"backend", V::String("keepalived")},
                                      {"track_file", V::String("/run/t")},
                                      {"demote_by", V::Int(255)}})),
            "plugin config: failover.demote_by must be a whole number from 1 to 253, got 255");
  // keepalived's FAULT threshold: value x weight -1 reaching -254 (trackers/track_file.c).
  EXPECT_EQ(DecodeError(WithFailover({{"backend", V::String("keepalived")},
                                      {"track_file", V::String("/run/t")},
                                      {"demote_by", V::Int(254)}})),
            "plugin config: failover.demote_by must be a whole number from 1 to 253, got 254");
  EXPECT_EQ(
      DecodeError(WithFailover({{"backend", V::String("openbsd-carp")}, {"demote_by", V::Int(0)}})),
      "plugin config: failover.demote_by must be a whole number from 1 to 128, got 0");
  EXPECT_EQ(DecodeError(WithFailover(
                {{"backend", V::String("openbsd-carp")}, {"demote_by", V::Double(1.5)}})),
            "plugin config: failover.demote_by must be a whole number from 1 to 128, got 1.5");
  EXPECT_EQ(DecodeError(WithFailover({{"backend", V::String("openbsd-carp")},
                                      {"demote_by", V::String("18446744073709551616")}})),
            "plugin config: failover.demote_by must be a whole number from 1 to 128, got "
            "18446744073709551616");
  EXPECT_EQ(DecodeError(WithFailover(
                {{"backend", V::String("openbsd-carp")}, {"demote_by", V::String("lots")}})),
            "plugin config: failover.demote_by must be a whole number from 1 to 128, got string "
            "\"lots\"");
  EXPECT_EQ(DecodeError(WithFailover(
                {{"backend", V::String("openbsd-carp")}, {"demote_by", V::Bool(true)}})),
            "plugin config: failover.demote_by must be a whole number from 1 to 128, got bool "
            "true");
  EXPECT_EQ(
      DecodeError(WithFailover({{"backend", V::String("command")}, {"demote_by", V::Int(-1)}})),
      "plugin config: failover.demote_by must be a whole number from 1 to 2147483647, got "
      "-1");
}

TEST(PluginConfigTest, BadTypesAtEveryTopLevelOption) {
  const std::pair<CtyValue, const char*> cases[] = {
      {V::Map({{"log_level", V::Int(5)}}),
       "plugin config: log_level must be a string, got number 5; write log_level = \"...\""},
      {V::Map({{"log_level", V::String("loud")}}),
       "plugin config: log_level: \"loud\" is not a log level; use trace, debug, info, warn or "
       "error"},
      {V::Map({{"state_dir", V::String("var/lib")}}),
       "plugin config: state_dir: \"var/lib\" is not an absolute path; write a path that starts "
       "with /"},
      {V::Map({{"state_dir", V::Bool(true)}}),
       "plugin config: state_dir must be a string, got bool true; write state_dir = \"...\""},
      {V::Map({{"enabled", V::String("yes")}}),
       "plugin config: enabled must be true or false, got string \"yes\"; write enabled = true "
       "(without quotes)"},
      {V::Map({{"denied_host_uids", V::String("root")}}),
       "plugin config: denied_host_uids: \"root\" has \"root\", not an id; write ids and "
       "inclusive ranges like \"0-100,600\""},
      {V::Map({{"denied_host_gids", V::Int(0)}}),
       "plugin config: denied_host_gids must be a string, got number 0; write denied_host_gids "
       "= \"...\""},
      {V::Map({{"denied_envvars", V::Int(5)}}),
       "plugin config: denied_envvars must be a list of strings, got number 5; write "
       "denied_envvars = [\"...\"]"},
      {V::Map({{"denied_envvars", V::List({V::String("A"), V::Int(1)})}}),
       "plugin config: denied_envvars[1] must be a string, got number 1; every item of the list "
       "must be quoted text"},
      {V::Map({{"failover", V::String("on")}}),
       "plugin config: failover must be a block, got string \"on\"; write failover { ... }"},
      {V::Map({{"nomad", V::Bool(true)}}),
       "plugin config: nomad is not an option here; remove it or use one of: log_level, "
       "state_dir, enabled, denied_host_uids, denied_host_gids, denied_envvars, failover"},
      {V::Int(5), "plugin config: must be a block of options, got number 5"},
  };
  for (const auto& [config, message] : cases) EXPECT_EQ(DecodeError(config), message);
}

TEST(PluginConfigTest, FailoverOptionErrors) {
  const std::pair<std::vector<CtyValue::Entry>, const char*> cases[] = {
      {{}, "plugin config: failover.backend is required; set backend = <string>"},
      {{{"backend", V::String("vrrp")}},
       "plugin config: failover.backend: \"vrrp\" is not a failover backend; use "
       "\"openbsd-carp\", \"freebsd-carp\", \"keepalived\" or \"command\""},
      {{{"backend", V::String("openbsd-carp")}, {"bogus", V::Int(1)}},
       "plugin config: failover.bogus is not an option here; remove it or use one of: backend, "
       "group, interfaces, demote_by, vip, confirm_timeout, poll_interval, settle, "
       "recover_stop_grace, "
       "confirm_command, track_file, state_file, demote_command, restore_command, state_command, "
       "ifconfig_path, sysctl_path, ip_path, demote_via, observe_via, handover, vrid"},
      {{{"backend", V::String("openbsd-carp")}, {"group", V::String("carp1")}},
       "plugin config: failover.group: \"carp1\" is not an interface group name; use 1 to 15 "
       "letters, digits, '.', '_' or '-', not ending in a digit, e.g. \"edge\""},
      {{{"backend", V::String("openbsd-carp")}, {"group", V::String("")}},
       "plugin config: failover.group is required for backend \"openbsd-carp\": give the carp "
       "interface that carries the FailOver IP a group of its own (`ifconfig carp1 group edge`, "
       "and `group edge` in /etc/hostname.carp1) and set group = \"edge\""},
      {{{"backend", V::String("openbsd-carp")}, {"interfaces", V::StringList({"carp0", "c p"})}},
       "plugin config: failover.interfaces[1]: \"c p\" is not an interface name; use 1 to 15 "
       "letters, digits, '.', '_' or '-', e.g. \"carp0\""},
      {{{"backend", V::String("openbsd-carp")},
        {"vip", V::StringList({"192.0.2.1", "10.0.0.300"})}},
       "plugin config: failover.vip[1]: \"10.0.0.300\" is not an IP address; write e.g. "
       "\"192.0.2.10\" or \"2001:db8::10\""},
      {{{"backend", V::String("openbsd-carp")}, {"vip", V::String("192.0.2.1")}},
       "plugin config: failover.vip must be a list of strings, got string \"192.0.2.1\"; write "
       "vip = [\"...\"]"},
      {{{"backend", V::String("openbsd-carp")}, {"confirm_timeout", V::String("10")}},
       "plugin config: failover.confirm_timeout: \"10\" is not a duration: the number \"10\" has "
       "no unit; add one of ns, us, ms, s, m, h (e.g. \"10s\")"},
      {{{"backend", V::String("openbsd-carp")}, {"confirm_timeout", V::Int(10)}},
       "plugin config: failover.confirm_timeout must be a duration string, got number 10; write "
       "confirm_timeout = \"250ms\" or \"1m30s\""},
      {{{"backend", V::String("openbsd-carp")}, {"settle", V::String("-1s")}},
       "plugin config: failover.settle must be 0s or more, got \"-1s\""},
      {{{"backend", V::String("openbsd-carp")}, {"confirm_timeout", V::String("0s")}},
       "plugin config: failover.confirm_timeout must be longer than 0s, got \"0s\"; write e.g. "
       "confirm_timeout = \"10s\""},
      {{{"backend", V::String("openbsd-carp")}, {"poll_interval", V::String("0s")}},
       "plugin config: failover.poll_interval must be longer than 0s, got \"0s\"; write e.g. "
       "poll_interval = \"50ms\""},
      {{{"backend", V::String("openbsd-carp")}, {"poll_interval", V::String("10s")}},
       "plugin config: failover.poll_interval must be shorter than confirm_timeout (10s), got "
       "\"10s\"; lower poll_interval or raise confirm_timeout"},
      {{{"backend", V::String("keepalived")}},
       "plugin config: failover.track_file is required for backend \"keepalived\"; set "
       "track_file = \"/run/carp_exec/demote\" and track that file in keepalived.conf with "
       "weight -1"},
      {{{"backend", V::String("keepalived")},
        {"track_file", V::String("/run/t")},
        {"handover", V::String("fast")}},
       "plugin config: failover.handover must be \"resign\" (demote, then send one priority-0 "
       "advertisement: the peer takes over after its skew time) or \"weighted\" (demote only: "
       "the peer waits out its Master_Down timer), got \"fast\""},
      {{{"backend", V::String("openbsd-carp")},
        {"group", V::String("edge")},
        {"handover", V::String("resign")}},
       "plugin config: failover.handover is for backend \"keepalived\" only (\"resign\" or "
       "\"weighted\"); backend \"openbsd-carp\" hands over through its demotion alone: remove "
       "handover, got \"resign\""},
      {{{"backend", V::String("keepalived")},
        {"track_file", V::String("/run/t")},
        {"vrid", V::Int(256)}},
       "plugin config: failover.vrid must be a whole number from 1 to 255, got 256"},
      {{{"backend", V::String("keepalived")},
        {"track_file", V::String("/run/t")},
        {"handover", V::String("weighted")},
        {"vrid", V::Int(51)}},
       "plugin config: failover.vrid is for backend \"keepalived\" with handover = \"resign\" "
       "only; remove it for handover = \"weighted\""},
      {{{"backend", V::String("keepalived")}, {"track_file", V::String("track")}},
       "plugin config: failover.track_file: \"track\" is not an absolute path; write a path that "
       "starts with /"},
      {{{"backend", V::String("command")}, {"demote_command", V::StringList({"/bin/d"})}},
       "plugin config: failover.restore_command is required for backend \"command\"; set "
       "restore_command = [\"/usr/local/bin/vip-control\", \"...\"]"},
      {{{"backend", V::String("openbsd-carp")}, {"confirm_command", V::StringList({""})}},
       "plugin config: failover.confirm_command[0] must name the program to run; write e.g. "
       "[\"/usr/local/bin/check\", \"arg\"]"},
      {{{"backend", V::String("openbsd-carp")}, {"recover_stop_grace", V::String("2h")}},
       "plugin config: failover.recover_stop_grace must be from 1ns to 1h, got \"2h\"; write "
       "e.g. recover_stop_grace = \"1m\" (longer than the job's shutdown_delay)"},
      {{{"backend", V::String("openbsd-carp")}, {"ifconfig_path", V::String("ifconfig")}},
       "plugin config: failover.ifconfig_path: \"ifconfig\" is not an absolute path; write a path "
       "that starts with /"},
  };
  for (const auto& [failover, message] : cases) {
    EXPECT_EQ(DecodeError(WithFailover(failover)), message);
  }
}

TEST(PluginConfigTest, BadMsgpackIsAClearError) {
  absl::StatusOr<PluginConfig> config = DecodePluginConfig(BytesFromHex("81 a3 61"));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message().substr(0, 25), "plugin config: truncated:");
}

TEST(PluginConfigTest, SchemaShape) {
  const hclspec::Spec& spec = PluginConfigSchema();
  ASSERT_EQ(spec.block_case(), hclspec::Spec::kObject);
  std::set<std::string> names;
  for (const auto& [name, unused] : spec.object().attributes()) names.insert(name);
  EXPECT_EQ(names, (std::set<std::string>{"log_level", "state_dir", "enabled", "denied_host_uids",
                                          "denied_host_gids", "denied_envvars", "failover"}));
  const auto& top = spec.object().attributes();
  EXPECT_EQ(top.at("log_level").default_().default_().literal().value(), "\"info\"");
  EXPECT_EQ(top.at("state_dir").default_().default_().literal().value(), "\"/var/lib/carp_exec\"");
  EXPECT_EQ(top.at("enabled").default_().primary().attr().type(), "bool");
  EXPECT_EQ(top.at("enabled").default_().default_().literal().value(), "true");
  EXPECT_EQ(top.at("denied_host_uids").attr().type(), "string");
  EXPECT_EQ(top.at("denied_envvars").attr().type(), "list(string)");

  const hclspec::Block& failover = top.at("failover").block_value();
  EXPECT_EQ(failover.name(), "failover");
  EXPECT_FALSE(failover.required());
  const auto& f = failover.nested().object().attributes();
  EXPECT_EQ(f.size(), 22u);
  EXPECT_FALSE(f.at("observe_via").attr().required());  // default per backend
  EXPECT_EQ(f.at("demote_via").default_().default_().literal().value(), "\"tool\"");  // Linux
  EXPECT_EQ(f.at("backend").attr().type(), "string");
  EXPECT_TRUE(f.at("backend").attr().required());
  // No default group (openbsd-carp requires a dedicated one) and a per-backend demote_by.
  EXPECT_EQ(f.at("group").attr().type(), "string");
  EXPECT_EQ(f.at("interfaces").attr().type(), "list(string)");
  EXPECT_EQ(f.at("demote_by").attr().type(), "number");
  EXPECT_EQ(f.at("vip").attr().type(), "list(string)");
  EXPECT_EQ(f.at("handover").attr().type(), "string");  // per-backend default, in Validate
  EXPECT_EQ(f.at("vrid").attr().type(), "number");
  EXPECT_EQ(f.at("confirm_timeout").default_().default_().literal().value(), "\"10s\"");
  EXPECT_EQ(f.at("poll_interval").default_().default_().literal().value(), "\"50ms\"");
  EXPECT_EQ(f.at("settle").default_().default_().literal().value(), "\"0s\"");
  EXPECT_EQ(f.at("recover_stop_grace").default_().default_().literal().value(), "\"1m\"");
  EXPECT_EQ(f.at("ifconfig_path").default_().default_().literal().value(), "\"/sbin/ifconfig\"");
  EXPECT_EQ(f.at("sysctl_path").default_().default_().literal().value(), "\"/sbin/sysctl\"");
  EXPECT_EQ(f.at("ip_path").default_().default_().literal().value(), "\"/sbin/ip\"");
  for (const char* list :
       {"confirm_command", "demote_command", "restore_command", "state_command"}) {
    EXPECT_EQ(f.at(list).attr().type(), "list(string)") << list;
  }
  // Every Attr carries its name (Nomad's Default passes none down).
  EXPECT_EQ(f.at("demote_by").attr().name(), "demote_by");
  EXPECT_EQ(&PluginConfigSchema(), &spec);  // built once
}

}  // namespace
}  // namespace carp_exec::config
