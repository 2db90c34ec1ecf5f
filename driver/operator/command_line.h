#pragma once
// The operator commands' flags, and the plugin config they describe.
//
// Failover options are given the way the plugin block gives them: one flag per `failover { }`
// key, named exactly like the key (`--backend=openbsd-carp --group=edge --interfaces=carp1`),
// and/or `--config FILE` with the plugin's config in JSON (the `config { }` block itself, or a
// whole Nomad agent config in JSON with `plugin "carp_exec" { config { ... } }` inside). Flags
// override the file's failover keys. The result is encoded to cty msgpack exactly as Nomad
// sends it and decoded by config::DecodePluginConfig, so validation and error texts are the
// plugin's own.
//
// Value forms: `--key=value` or `--key value`. `interfaces` and `vip` repeat or take commas
// (`--vip=192.0.2.10,192.0.2.11`). The command lists (`confirm_command`, `demote_command`,
// `restore_command`, `state_command`) take one JSON array of strings:
// `--demote_command='["/usr/local/sbin/vip", "down"]'`.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "driver/config/cty_value.h"
#include "driver/config/plugin_config.h"

namespace carp_exec::operator_cli {

// The keys of the failover block, in the README's order.
const std::vector<std::string>& FailoverKeys();

struct CommandLine {
  std::optional<std::string> state_dir;    // --state-dir DIR (also --state_dir)
  std::optional<std::string> config_file;  // --config FILE
  // Failover flags in the order given: key, raw value.
  std::vector<std::pair<std::string, std::string>> failover_flags;
  bool json = false;     // --json
  bool live = false;     // --live
  bool verbose = false;  // --verbose: the plugin's log lines (hclog JSON) on stderr
  bool help = false;     // --help / -h
};

// Which flags a command accepts beyond the failover flags, --config and --state-dir.
struct AcceptedFlags {
  bool json = false;
  bool live = false;
};

// Parses args (without the program and command names). A usage error is InvalidArgument whose
// message names the flag and the fix.
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                             AcceptedFlags accepted);

// The decoded plugin config and where the command should look.
struct ResolvedConfig {
  config::PluginConfig plugin;  // as SetConfig would decode it
  bool failover_given = false;  // a failover block came from the file or the flags
  std::string state_dir;        // --state-dir, else the config's state_dir (default per OS)
};

// Builds the config from the file and the flags. Errors:
//   InvalidArgument     usage: unreadable or non-JSON file, malformed command array;
//   FailedPrecondition  the plugin would reject the config; the message is the plugin's
//                       ("plugin config: failover.demote_by must be a whole number from 1 to
//                       128, got 500").
absl::StatusOr<ResolvedConfig> ResolveConfig(const CommandLine& line);

// JSON text → the value tree the cty encoder takes (objects → maps, arrays → lists; whole
// numbers → integers). InvalidArgument names the parse error.
absl::StatusOr<config::CtyValue> JsonToCtyValue(absl::string_view json);

// Encodes `root` (the plugin config block as a value tree) with the plugin's schema, as Nomad
// would, and decodes it with DecodePluginConfig. When the encoder rejects a value's type, the
// error names the option (`plugin config: failover.demote_by: expected a number, got string
// "abc"`).
absl::StatusOr<config::PluginConfig> DecodeConfigTree(const config::CtyValue& root);

}  // namespace carp_exec::operator_cli
