#include "driver/config/task_config.h"

#include <set>

#include "driver/config/cty_encoder.h"
#include "driver/config/hex_for_tests.h"
#include "gtest/gtest.h"

namespace carp_exec::config {
namespace {

using V = CtyValue;

absl::StatusOr<TaskConfig> DecodeLikeNomad(const CtyValue& config) {
  absl::StatusOr<std::string> bytes = EncodeCtyForSchema(config, TaskConfigSchema());
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  if (!bytes.ok()) return bytes.status();
  return DecodeTaskConfig(*bytes);
}

std::string DecodeError(const CtyValue& config) {
  absl::StatusOr<std::string> bytes = EncodeCtyMsgpack(config);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<TaskConfig> decoded = DecodeTaskConfig(*bytes);
  EXPECT_FALSE(decoded.ok());
  return decoded.ok() ? "(decoded)" : std::string(decoded.status().message());
}

CtyValue WithCommand(std::vector<CtyValue::Entry> entries) {
  entries.emplace_back("command", V::String("/bin/app"));
  return V::Map(std::move(entries));
}

TEST(TaskConfigTest, MinimalConfigGetsDefaults) {
  absl::StatusOr<TaskConfig> task = DecodeLikeNomad(V::Map({{"command", V::String("traefik")}}));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->command, "traefik");
  EXPECT_TRUE(task->args.empty());
  EXPECT_TRUE(task->work_dir.empty());
  EXPECT_TRUE(task->denied_envvars.empty());
  EXPECT_EQ(task->oom_score_adj, 0);
  EXPECT_FALSE(task->failover);
  EXPECT_FALSE(task->ready.has_value());
}

TEST(TaskConfigTest, FullConfig) {
  absl::StatusOr<TaskConfig> task = DecodeLikeNomad(V::Map({
      {"command", V::String("/usr/local/bin/traefik")},
      {"args", V::StringList({"--configFile", "local/traefik.toml"})},
      {"work_dir", V::String("/srv/traefik")},
      {"denied_envvars", V::StringList({"VAULT_*"})},
      {"oom_score_adj", V::Int(500)},
      {"failover", V::Bool(true)},
      {"ready", V::Map({{"http", V::String("http://127.0.0.1:8080/ping")},
                        {"tcp", V::String("127.0.0.1:443")},
                        {"interval", V::String("100ms")},
                        {"timeout", V::String("2m")}})},
  }));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->args.size(), 2u);
  EXPECT_EQ(task->work_dir, "/srv/traefik");
  EXPECT_EQ(task->oom_score_adj, 500);
  EXPECT_TRUE(task->failover);
  ASSERT_TRUE(task->ready.has_value());
  ASSERT_TRUE(task->ready->http.has_value());
  EXPECT_EQ(task->ready->http->address.port, 8080);
  EXPECT_EQ(task->ready->http->target, "/ping");
  ASSERT_TRUE(task->ready->tcp.has_value());
  EXPECT_EQ(task->ready->tcp->port, 443);
  EXPECT_EQ(task->ready->interval, absl::Milliseconds(100));
  EXPECT_EQ(task->ready->timeout, absl::Minutes(2));
}

TEST(TaskConfigTest, ReadyDefaults) {
  absl::StatusOr<TaskConfig> task =
      DecodeLikeNomad(WithCommand({{"ready", V::Map({{"tcp", V::String("[::1]:443")}})}}));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_FALSE(task->ready->http.has_value());
  EXPECT_EQ(task->ready->tcp->host, "::1");
  EXPECT_EQ(task->ready->interval, absl::Milliseconds(250));
  EXPECT_EQ(task->ready->timeout, absl::Seconds(60));
}

TEST(TaskConfigTest, Errors) {
  const std::pair<CtyValue, const char*> cases[] = {
      {V::Map({}), "task config: command is required; set command = <string>"},
      {V::Map({{"command", V::Null()}}),
       "task config: command is required; set command = <string>"},
      {V::Map({{"command", V::String("")}}),
       "task config: command: \"\" is not a command; write command = \"/usr/local/bin/traefik\" "
       "or a name in PATH"},
      {V::Map({{"command", V::List({})}}),
       "task config: command must be a string, got a list of 0 items; write command = \"...\""},
      {WithCommand({{"args", V::Int(5)}}),
       "task config: args must be a list of strings, got number 5; write args = [\"...\"]"},
      {WithCommand({{"args", V::List({V::String("-v"), V::Null()})}}),
       "task config: args[1] must be a string, got null; every item of the list must be quoted "
       "text"},
      {WithCommand({{"work_dir", V::String("srv")}}),
       "task config: work_dir: \"srv\" is not an absolute path; write a path that starts with /"},
      {WithCommand({{"denied_envvars", V::Map({})}}),
       "task config: denied_envvars must be a list of strings, got an empty map; write "
       "denied_envvars = [\"...\"]"},
      {WithCommand({{"oom_score_adj", V::Int(-1)}}),
       "task config: oom_score_adj must be a whole number from 0 to 1000, got -1"},
      {WithCommand({{"failover", V::String("true")}}),
       "task config: failover must be true or false, got string \"true\"; write failover = true "
       "(without quotes)"},
      {WithCommand({{"ready", V::Bool(true)}}),
       "task config: ready must be a block, got bool true; write ready { ... }"},
      {WithCommand({{"ready", V::Map({})}}),
       "task config: ready needs http or tcp; write e.g. ready { http = "
       "\"http://127.0.0.1:8080/ping\" }"},
      {WithCommand({{"ready", V::Map({{"http", V::String("https://127.0.0.1:443/")}})}}),
       "task config: ready.http: \"https://127.0.0.1:443/\" must start with http:// (https is "
       "not supported); write e.g. \"http://127.0.0.1:8080/ping\""},
      {WithCommand({{"ready", V::Map({{"tcp", V::String("localhost")}})}}),
       "task config: ready.tcp: \"localhost\" has no port; write host:port, e.g. "
       "\"127.0.0.1:443\" or \"[::1]:443\""},
      {WithCommand(
           {{"ready", V::Map({{"tcp", V::String("127.0.0.1:1")}, {"interval", V::String("0s")}})}}),
       "task config: ready.interval must be from 50ms to 1m, got \"0s\"; write e.g. interval "
       "= \"250ms\""},
      // Issue 9.6: a job cannot make the failover worker spin.
      {WithCommand({{"ready",
                     V::Map({{"tcp", V::String("127.0.0.1:1")}, {"interval", V::String("1ns")}})}}),
       "task config: ready.interval must be from 50ms to 1m, got \"1ns\"; write e.g. interval "
       "= \"250ms\""},
      {WithCommand(
           {{"ready", V::Map({{"tcp", V::String("127.0.0.1:1")}, {"timeout", V::String("2h")}})}}),
       "task config: ready.timeout must be from the interval (250ms) to 1h, got \"2h\"; "
       "write e.g. timeout = \"60s\""},
      // Issue 9.7: no name resolution on the failover worker.
      {WithCommand({{"ready", V::Map({{"tcp", V::String("h:1")}})}}),
       "task config: ready.tcp has the host name \"h\"; give an IP address (or localhost), e.g. "
       "127.0.0.1: the check runs on this node and must not wait on DNS"},
      {WithCommand({{"ready", V::Map({{"http", V::String("http://ping.example:80/")}})}}),
       "task config: ready.http has the host name \"ping.example\"; give an IP address (or "
       "localhost), e.g. 127.0.0.1: the check runs on this node and must not wait on DNS"},
      {WithCommand({{"ready", V::Map({{"tcp", V::String("h:1")}, {"timeout", V::String("1x")}})}}),
       "task config: ready.timeout: \"1x\" is not a duration: unknown unit \"x\"; use ns, us, ms, "
       "s, m or h"},
      {WithCommand({{"ready", V::Map({{"tcp", V::String("h:1")}, {"grpc", V::String("x")}})}}),
       "task config: ready.grpc is not an option here; remove it or use one of: http, tcp, "
       "interval, timeout"},
      {WithCommand({{"image", V::String("x")}}),
       "task config: image is not an option here; remove it or use one of: command, args, "
       "work_dir, denied_envvars, oom_score_adj, failover, ready"},
  };
  for (const auto& [config, message] : cases) EXPECT_EQ(DecodeError(config), message);
}

TEST(TaskConfigTest, EmptyBytesLackTheCommand) {
  absl::StatusOr<TaskConfig> task = DecodeTaskConfig("");
  ASSERT_FALSE(task.ok());
  EXPECT_EQ(task.status().message(), "task config: command is required; set command = <string>");
}

TEST(TaskConfigTest, SchemaShape) {
  const hclspec::Spec& spec = TaskConfigSchema();
  const auto& attributes = spec.object().attributes();
  std::set<std::string> names;
  for (const auto& [name, unused] : attributes) names.insert(name);
  EXPECT_EQ(names, (std::set<std::string>{"command", "args", "work_dir", "denied_envvars",
                                          "oom_score_adj", "failover", "ready"}));
  const hclspec::Attr& command = attributes.at("command").attr();
  EXPECT_EQ(command.name(), "command");
  EXPECT_EQ(command.type(), "string");
  EXPECT_TRUE(command.required());
  EXPECT_EQ(attributes.at("args").attr().type(), "list(string)");
  EXPECT_FALSE(attributes.at("args").attr().required());
  EXPECT_EQ(attributes.at("failover").default_().default_().literal().value(), "false");
  EXPECT_EQ(attributes.at("oom_score_adj").default_().default_().literal().value(), "0");
  const auto& ready = attributes.at("ready").block_value();
  EXPECT_EQ(ready.name(), "ready");
  const auto& r = ready.nested().object().attributes();
  EXPECT_EQ(r.at("http").attr().type(), "string");
  EXPECT_EQ(r.at("tcp").attr().type(), "string");
  EXPECT_EQ(r.at("interval").default_().default_().literal().value(), "\"250ms\"");
  EXPECT_EQ(r.at("timeout").default_().default_().literal().value(), "\"60s\"");
}

}  // namespace
}  // namespace carp_exec::config
