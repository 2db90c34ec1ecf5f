// carp_exec version/help/status and the option handling of check, in-process.

#include <csignal>
#include <memory>

#include "absl/strings/str_cat.h"
#include "driver/failover/atomic_file.h"
#include "driver/failover/demotion_backend.h"
#include "driver/failover/demotion_ledger.h"
#include "driver/operator/command_line.h"
#include "driver/operator/operator_test_support.h"
#include "driver/tasks/task_test_support.h"
#include "fingerprint/command_runner.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace carp_exec::operator_cli::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

google::protobuf::Struct ParseJson(const std::string& text) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &parsed).ok()) << text;
  return parsed;
}

std::vector<std::string> Keys(const google::protobuf::Struct& object) {
  std::vector<std::string> keys;
  for (const auto& [key, unused] : object.fields()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

TEST(OperatorCli, VersionHelpAndUnknownCommands) {
  Ran version = RunCli({"version"});
  EXPECT_EQ(version.code, kExitOk);
  EXPECT_THAT(version.out, HasSubstr("carp_exec "));
  Ran help = RunCli({"help"});
  EXPECT_EQ(help.code, kExitOk);
  for (const char* word : {"status", "check", "--live", "--json", "--demote_command", "Exit"}) {
    EXPECT_THAT(help.out, HasSubstr(word));
  }
  Ran unknown = RunCli({"frobnicate"});
  EXPECT_EQ(unknown.code, kExitUsage);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command \"frobnicate\""));
  EXPECT_EQ(RunCli({"status", "--live"}).code, kExitUsage);
  EXPECT_EQ(RunCli({"status", "extra"}).code, kExitUsage);
  EXPECT_EQ(RunCli({"check", "--help"}).code, kExitOk);
}

TEST(OperatorCli, StatusOfAnEmptyStateDir) {
  failover::TempDirForTest dir;
  const std::string state = dir.path() + "/none";
  Ran text = RunCli({"status", "--state-dir", state});
  EXPECT_EQ(text.code, kExitOk) << text.err;
  EXPECT_THAT(text.out, HasSubstr("does not exist yet"));
  EXPECT_THAT(text.out, HasSubstr("carp_exec has never demoted this node"));
  EXPECT_THAT(text.out, HasSubstr("0 on disk"));
  EXPECT_FALSE(Exists(state));  // status never creates anything

  Ran json = RunCli({"status", "--state-dir", state, "--json"});
  ASSERT_EQ(json.code, kExitOk);
  google::protobuf::Struct root = ParseJson(json.out);
  EXPECT_EQ(Keys(root),
            (std::vector<std::string>{"check_live", "failover", "guarded_running", "handovers",
                                      "handovers_error", "ledger", "state_dir", "state_dir_exists",
                                      "tasks", "tasks_total", "version"}));
  EXPECT_EQ(Keys(root.fields().at("ledger").struct_value()),
            (std::vector<std::string>{"backend", "boot_id", "boot_id_current", "demoted", "error",
                                      "intent", "path", "present", "share", "target"}));
  EXPECT_FALSE(root.fields().at("state_dir_exists").bool_value());
  EXPECT_EQ(root.fields().at("ledger").struct_value().fields().at("share").number_value(), 0);
  EXPECT_TRUE(root.fields().at("failover").has_null_value());
}

// A state dir as the plugin leaves it: a guarded task running under its supervisor, a plain
// task that exited, our share in the ledger, a hand-over recorded.
TEST(OperatorCli, StatusOfAPopulatedStateDir) {
  FakeNode node;
  const std::string& state = node.state_dir();
  std::unique_ptr<tasks::TaskRunner> runner = tasks::testing::MakeRunner(state);
  ::mkdir((node.path() + "/task").c_str(), 0700);
  tasks::LaunchSpec guarded =
      tasks::testing::ShellTask("alloc1/web/0001", "exec sleep 60", node.path() + "/task");
  guarded.guarded = true;
  ASSERT_TRUE(runner->Start(guarded).ok());
  tasks::LaunchSpec plain =
      tasks::testing::ShellTask("alloc2/batch/0002", "exit 3", node.path() + "/task");
  ASSERT_TRUE(runner->Start(plain).ok());
  ASSERT_TRUE(tasks::testing::WaitExit(*runner, "alloc2/batch/0002").ok());

  fingerprint::SystemCommandRunner commands;
  auto backend = failover::MakeOpenBsdCarpBackend(node.ifconfig(), "edge", &commands);
  ASSERT_TRUE(failover::MakeDirectories(state + "/failover").ok());
  failover::DemotionLedger ledger(node.ledger(), backend.get(), "boot-a");
  ASSERT_TRUE(ledger.Reconcile().ok());
  ASSERT_TRUE(ledger.Demote(50).ok());
  ASSERT_TRUE(
      failover::WriteFileAtomically(state + "/failover/handovers", "alloc1/web/0001\n", 0600).ok());

  const std::vector<std::string> args = node.Args("status");
  Ran text = RunCli(args);
  EXPECT_EQ(text.code, kExitOk) << text.err;
  EXPECT_THAT(text.out, HasSubstr("our share 50 of group edge (openbsd-carp)"));
  EXPECT_THAT(text.out, HasSubstr("in progress for alloc1/web/0001"));
  EXPECT_THAT(text.out, HasSubstr("2 on disk, 1 guarded running"));
  EXPECT_THAT(text.out, HasSubstr("recorded before the last reboot"));  // "boot-a" is not ours
  EXPECT_THAT(text.out, HasSubstr("failover    openbsd-carp: BACKUP; demote count 50"));

  std::vector<std::string> json_args = args;
  json_args.push_back("--json");
  Ran json = RunCli(json_args);
  ASSERT_EQ(json.code, kExitOk) << json.err;
  google::protobuf::Struct root = ParseJson(json.out);
  const auto& fields = root.fields();
  EXPECT_EQ(fields.at("ledger").struct_value().fields().at("share").number_value(), 50);
  EXPECT_TRUE(fields.at("ledger").struct_value().fields().at("demoted").bool_value());
  EXPECT_EQ(fields.at("ledger").struct_value().fields().at("target").string_value(), "group edge");
  EXPECT_EQ(fields.at("handovers").list_value().values(0).string_value(), "alloc1/web/0001");
  EXPECT_EQ(fields.at("tasks_total").number_value(), 2);
  EXPECT_EQ(fields.at("guarded_running").number_value(), 1);
  const auto& tasks = fields.at("tasks").list_value().values();
  ASSERT_EQ(tasks.size(), 2);
  const auto& first = tasks[0].struct_value().fields();  // sorted by id: alloc1 first
  EXPECT_EQ(Keys(tasks[0].struct_value()),
            (std::vector<std::string>{"alloc_id", "command", "dir", "exit_code", "guarded",
                                      "handing_over", "id", "pid", "state", "task_name"}));
  EXPECT_EQ(first.at("id").string_value(), "alloc1/web/0001");
  EXPECT_TRUE(first.at("guarded").bool_value());
  EXPECT_EQ(first.at("state").string_value(), "running");
  EXPECT_TRUE(first.at("handing_over").bool_value());
  EXPECT_GT(first.at("pid").number_value(), 0);
  const auto& second = tasks[1].struct_value().fields();
  EXPECT_EQ(second.at("state").string_value(), "exited");
  EXPECT_EQ(second.at("exit_code").number_value(), 3);
  EXPECT_FALSE(second.at("guarded").bool_value());
  const auto& observed = fields.at("failover").struct_value().fields();
  EXPECT_EQ(Keys(fields.at("failover").struct_value()),
            (std::vector<std::string>{"backend", "demote_count", "detail", "error", "holds_vip",
                                      "state", "vips_held"}));
  EXPECT_EQ(observed.at("state").string_value(), "BACKUP");  // our share moved the VIP away
  EXPECT_FALSE(observed.at("holds_vip").bool_value());
  EXPECT_FALSE(fields.at("ledger").struct_value().fields().at("boot_id_current").bool_value());
  EXPECT_EQ(observed.at("demote_count").number_value(), 50);

  // Status is read-only: the ledger and the counter are as they were.
  EXPECT_EQ(node.group_count(), 50);
  EXPECT_THAT(ReadText(node.ledger()), HasSubstr("share 50"));

  ASSERT_TRUE(
      tasks::testing::StopAndWait(*runner, "alloc1/web/0001", absl::Seconds(5), SIGTERM).ok());
  EXPECT_TRUE(runner->Destroy("alloc1/web/0001", true).ok());
  EXPECT_TRUE(runner->Destroy("alloc2/batch/0002", true).ok());
}

TEST(OperatorCli, StatusReportsACorruptLedger) {
  FakeNode node;
  ASSERT_TRUE(failover::MakeDirectories(node.state_dir() + "/failover").ok());
  WriteText(node.ledger(), "version 1\nshare lots\n");
  Ran ran = RunCli({"status", "--state-dir", node.state_dir()});
  EXPECT_EQ(ran.code, kExitCheckFailed);
  EXPECT_THAT(ran.out, HasSubstr("ERROR: corrupt"));
  EXPECT_THAT(ran.out, HasSubstr("share lots"));
}

TEST(OperatorCli, CheckRejectsOptionsWithThePluginsOwnErrors) {
  FakeNode node;
  Ran too_much = RunCli(node.Args("check", {"--demote_by=500"}));
  EXPECT_EQ(too_much.code, kExitCheckFailed);
  EXPECT_THAT(too_much.out,
              HasSubstr("plugin config: failover.demote_by must be a whole number from 1 to 128, "
                        "got 500"));
  Ran not_a_number = RunCli(node.Args("check", {"--demote_by=lots"}));
  EXPECT_EQ(not_a_number.code, kExitCheckFailed);
  EXPECT_THAT(not_a_number.out, HasSubstr("failover.demote_by"));
  EXPECT_THAT(not_a_number.out, HasSubstr("\"lots\""));
  Ran backend = RunCli({"check", "--backend=vrrpd"});
  EXPECT_EQ(backend.code, kExitCheckFailed);
  EXPECT_THAT(backend.out, HasSubstr("failover.backend: \"vrrpd\" is not a failover backend"));
  Ran keepalived = RunCli({"check", "--backend=keepalived", "--vip=192.0.2.10"});
  EXPECT_EQ(keepalived.code, kExitCheckFailed);
  EXPECT_THAT(keepalived.out, HasSubstr("failover.track_file is required"));
  Ran poll = RunCli(node.Args("check", {"--poll_interval=20s"}));
  EXPECT_EQ(poll.code, kExitCheckFailed);
  EXPECT_THAT(poll.out, HasSubstr("failover.poll_interval must be shorter than confirm_timeout"));
  Ran vip = RunCli({"check", "--backend=openbsd-carp", "--vip=192.0.2.300"});
  EXPECT_EQ(vip.code, kExitCheckFailed);
  EXPECT_THAT(vip.out, HasSubstr("192.0.2.300"));
}

TEST(OperatorCli, CheckUsageErrors) {
  EXPECT_EQ(RunCli({"check"}).code, kExitUsage);  // nothing to check
  Ran unknown = RunCli({"check", "--backend=openbsd-carp", "--prempt=1"});
  EXPECT_EQ(unknown.code, kExitUsage);
  EXPECT_THAT(unknown.err, HasSubstr("unknown option \"--prempt\""));
  Ran twice = RunCli({"check", "--backend=openbsd-carp", "--group=a", "--group=b"});
  EXPECT_EQ(twice.code, kExitUsage);
  EXPECT_THAT(twice.err, HasSubstr("--group is given twice"));
  Ran command = RunCli({"check", "--backend=command", "--demote_command=/bin/true"});
  EXPECT_EQ(command.code, kExitUsage);
  EXPECT_THAT(command.err, HasSubstr("--demote_command: expected a JSON array of strings"));
  Ran missing = RunCli({"check", "--backend"});
  EXPECT_EQ(missing.code, kExitUsage);
  EXPECT_THAT(missing.err, HasSubstr("--backend needs a value"));
  Ran no_file = RunCli({"check", "--config", "/nonexistent/carp.json"});
  EXPECT_EQ(no_file.code, kExitUsage);
  EXPECT_THAT(no_file.err, HasSubstr("/nonexistent/carp.json"));
}

TEST(OperatorCli, CheckFindsAMissingInterfaceAndGroup) {
  FakeNode node;
  Ran iface = RunCli(node.Args("check", {"--interfaces=carp9"}));
  EXPECT_EQ(iface.code, kExitCheckFailed);
  EXPECT_THAT(iface.out, HasSubstr("FAIL  observer"));
  EXPECT_THAT(iface.out, HasSubstr("carp9"));
  Ran group = RunCli(node.Args("check", {"--group=nosuch"}));
  EXPECT_EQ(group.code, kExitCheckFailed);
  EXPECT_THAT(group.out, HasSubstr("FAIL  backend"));
  EXPECT_THAT(group.out, HasSubstr("group nosuch"));
  Ran tool = RunCli(node.Args("check", {"--ifconfig_path=/nonexistent/ifconfig"}));
  EXPECT_EQ(tool.code, kExitCheckFailed);
  EXPECT_THAT(tool.out, HasSubstr("ifconfig_path"));
}

TEST(OperatorCli, CheckPassesOnAGoodNode) {
  FakeNode node;
  Ran ran = RunCli(node.Args("check"));
  EXPECT_EQ(ran.code, kExitOk) << ran.out << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("ok    options      group edge"));
  EXPECT_THAT(ran.out, HasSubstr("demote_by 50, confirm_timeout 10s, poll_interval 50ms"));
  EXPECT_THAT(ran.out, HasSubstr("ok    state        MASTER, 192.0.2.10 on this node"));
  EXPECT_THAT(ran.out, HasSubstr("result: all checks passed"));
  EXPECT_THAT(ran.out, Not(HasSubstr("FAIL")));
  EXPECT_EQ(node.log(), "");  // nothing was changed
  EXPECT_FALSE(Exists(node.state_dir()));
}

TEST(OperatorCli, ConfigFileInBothJsonFormsWithFlagsOverriding) {
  FakeNode node;
  const std::string block = node.path() + "/plugin.json";
  WriteText(block,
            absl::StrCat(R"({"state_dir": ")", node.state_dir(),
                         R"(", "failover": {"backend": "openbsd-carp", "group": "edge",
                                "interfaces": ["carp1"], "vip": ["192.0.2.10"], "demote_by": 20,
                                "ifconfig_path": ")",
                         node.ifconfig(), R"(", "sysctl_path": ")", node.sysctl(), R"("}})"));
  Ran ran = RunCli({"check", "--config", block});
  EXPECT_EQ(ran.code, kExitOk) << ran.out << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("demote_by 20"));
  EXPECT_THAT(ran.out, HasSubstr("state dir " + node.state_dir()));
  Ran overridden = RunCli({"check", "--config", block, "--demote_by=30"});
  EXPECT_THAT(overridden.out, HasSubstr("demote_by 30"));

  const std::string agent = node.path() + "/agent.json";
  WriteText(agent, absl::StrCat(R"({"plugin_dir": "/x", "plugin": [{"carp_exec": [{"config": [{
      "failover": [{"backend": "openbsd-carp", "group": "edge", "demote_by": 200}]}]}]}]})"));
  Ran agent_ran = RunCli({"check", "--config", agent});
  EXPECT_EQ(agent_ran.code, kExitCheckFailed);
  EXPECT_THAT(agent_ran.out, HasSubstr("failover.demote_by must be a whole number from 1 to 128, "
                                       "got 200"));

  WriteText(agent, R"({"plugin": {"raw_exec": {}}})");
  EXPECT_EQ(RunCli({"check", "--config", agent}).code, kExitUsage);
  WriteText(agent, "{not json");
  Ran bad = RunCli({"check", "--config", agent});
  EXPECT_EQ(bad.code, kExitUsage);
  EXPECT_THAT(bad.err, HasSubstr("not valid JSON"));
}

TEST(OperatorCli, CommandListsTakeJsonArrays) {
  absl::StatusOr<CommandLine> line = ParseCommandLine(
      {"--backend=command", R"(--demote_command=["/bin/sh", "-c", "exit 0"])",
       R"(--restore_command=["/bin/true"])", R"(--state_command=["/bin/echo", "MASTER"])", "--vip",
       "192.0.2.10,192.0.2.11", "--vip=2001:db8::1"},
      AcceptedFlags{});
  ASSERT_TRUE(line.ok()) << line.status();
  absl::StatusOr<ResolvedConfig> resolved = ResolveConfig(*line);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  const config::FailoverConfig& failover = *resolved->plugin.failover;
  EXPECT_EQ(failover.demote_command, (std::vector<std::string>{"/bin/sh", "-c", "exit 0"}));
  EXPECT_EQ(failover.state_command, (std::vector<std::string>{"/bin/echo", "MASTER"}));
  ASSERT_EQ(failover.vip.size(), 3u);
  EXPECT_EQ(failover.vip[2].text, "2001:db8::1");
}

}  // namespace
}  // namespace carp_exec::operator_cli::testing
