// Writes the fuzz seed corpus: configs encoded exactly as Nomad sends them, the reference's
// example byte strings, and a few odd-but-valid wire forms. Usage: cty_fuzz_seeds <dir>.

#include <cstdio>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "driver/config/cty_encoder.h"
#include "driver/config/hex_for_tests.h"
#include "driver/config/plugin_config.h"
#include "driver/config/task_config.h"

namespace {

using carp_exec::config::CtyValue;
using V = CtyValue;

std::string Hex(const char* hex) { return carp_exec::config::BytesFromHex(hex); }

}  // namespace

int main(int argc, char** argv) {
  using namespace carp_exec::config;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  std::vector<std::pair<std::string, absl::StatusOr<std::string>>> seeds;
  const auto plugin = [&](const char* name, const CtyValue& v) {
    seeds.emplace_back(name, EncodeCtyForSchema(v, PluginConfigSchema()));
  };
  const auto task = [&](const char* name, const CtyValue& v) {
    seeds.emplace_back(name, EncodeCtyForSchema(v, TaskConfigSchema()));
  };
  plugin("plugin-defaults", V::Null());
  plugin("plugin-openbsd",
         V::Map({{"log_level", V::String("debug")},
                 {"denied_host_uids", V::String("0-100,600")},
                 {"denied_envvars", V::StringList({"AWS_*"})},
                 {"failover", V::Map({{"backend", V::String("openbsd-carp")},
                                      {"group", V::String("edge")},
                                      {"vip", V::StringList({"192.0.2.10", "2001:db8::10"})},
                                      {"confirm_timeout", V::String("1m30s")}})}}));
  plugin("plugin-keepalived",
         V::Map({{"failover", V::Map({{"backend", V::String("keepalived")},
                                      {"interfaces", V::StringList({"eth0"})},
                                      {"demote_by", V::Int(200)},
                                      {"track_file", V::String("/run/carp_exec/demote")},
                                      {"confirm_command", V::StringList({"/bin/true"})}})}}));
  plugin("plugin-command",
         V::Map({{"failover", V::Map({{"backend", V::String("command")},
                                      {"demote_command", V::StringList({"/bin/d", "-x"})},
                                      {"restore_command", V::StringList({"/bin/r"})},
                                      {"state_command", V::StringList({"/bin/s"})}})}}));
  task("task-minimal", V::Map({{"command", V::String("/bin/true")}}));
  task("task-full", V::Map({{"command", V::String("traefik")},
                            {"args", V::StringList({"--configFile", "local/traefik.toml"})},
                            {"work_dir", V::String("/srv")},
                            {"oom_score_adj", V::Int(100)},
                            {"failover", V::Bool(true)},
                            {"ready", V::Map({{"http", V::String("http://127.0.0.1:8080/ping")},
                                              {"tcp", V::String("[::1]:443")}})}}));
  seeds.emplace_back("reference-1", EncodeCtyMsgpack(V::Map({{"command", V::String("/bin/app")},
                                                             {"args", V::StringList({"-v"})},
                                                             {"preempt", V::Bool(true)},
                                                             {"vrid", V::Int(51)}})));
  seeds.emplace_back("dynamic-string", EncodeCtyDynamic(V::String("hi")));
  seeds.emplace_back(
      "numbers", EncodeCtyMsgpack(
                     V::List({V::Int(-200), V::Double(1.5), V::Number(*CtyNumber::FromText("0.1")),
                              V::Number(*CtyNumber::FromText("18446744073709551616")),
                              V::Number(CtyNumber::Unsigned(18446744073709551615ULL))})));
  // float32, a bin string, a str16 key and nested empties: forms other encoders use.
  seeds.emplace_back("wire-forms", Hex("83a166ca3fc00000a162c403616263da000161929080"));
  for (const auto& [name, bytes] : seeds) {
    if (!bytes.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), std::string(bytes.status().message()).c_str());
      return 1;
    }
    std::ofstream(std::string(argv[1]) + "/" + name, std::ios::binary) << *bytes;
  }
  return 0;
}
