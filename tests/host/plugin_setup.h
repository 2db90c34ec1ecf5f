#pragma once
// The calls the Nomad agent and client make to set a plugin up after dispense (the driver
// manager's launch #3: ConfigSchema, SetConfig with the client's nomad_config, Init), for the
// conformance tests and the benchmarks alike. Every call carries kSetupRpcTimeout.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "driver/config/cty_value.h"
#include "tests/host/plugin_process.h"

namespace carp_exec::test_host {

namespace hclspec = ::hashicorp::nomad::plugins::shared::hclspec;

// The deadline of each set-up RPC. Nomad sets none; tests and benchmarks must never hang.
inline constexpr absl::Duration kSetupRpcTimeout = absl::Seconds(20);

// The hclspec schemas as the plugin serves them.
absl::StatusOr<hclspec::Spec> FetchConfigSchema(PluginProcess& plugin);
absl::StatusOr<hclspec::Spec> FetchTaskConfigSchema(PluginProcess& plugin);

// The nomad_config the driver manager sends on its kept launch (#3): client port range
// defaults (14000–14512) and a small one-socket topology (2 cores at 2400 MHz).
base_proto::NomadConfig NomadClientConfig();

// SetConfig with `user_config` (the `config {}` block as written) encoded through the plugin's
// own schema, like the agent. `nomad_config` absent as in launch #2, present as in launch #3.
absl::Status SetConfig(PluginProcess& plugin, const config::CtyValue& user_config,
                       const base_proto::NomadConfig* nomad_config);

// Nomad's launch #3 steps after dispense: SetConfig (with NomadClientConfig) and Init
// (UNIMPLEMENTED counts as success, as for Nomad). `state_dir` becomes the plugin's
// `state_dir` option so nothing touches /var; `extra_options` are the rest of `config {}`.
absl::Status ConfigureLikeDriverManager(PluginProcess& plugin, const std::string& state_dir,
                                        std::vector<config::CtyValue::Entry> extra_options = {});

}  // namespace carp_exec::test_host
