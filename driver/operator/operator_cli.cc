#include "driver/operator/operator_cli.h"

#include "absl/strings/str_cat.h"
#include "carp_exec/version.h"
#include "driver/failover/failover_coordinator.h"
#include "driver/log/hclog.h"
#include "driver/operator/command_line.h"
#include "driver/operator/state_report.h"
#include "driver/operator/subcommands.h"
#include "fingerprint/command_runner.h"

namespace carp_exec::operator_cli {
namespace {

constexpr char kUsage[] =
    "usage: carp_exec <command> [options]\n"
    "\n"
    "Started by the Nomad agent without arguments, carp_exec is the task driver plugin.\n"
    "Commands for the operator:\n"
    "\n"
    "  status [--state-dir DIR] [--config FILE] [failover options] [--json]\n"
    "      What the plugin's state directory holds: the demotion ledger (carp_exec's share),\n"
    "      hand-overs in progress, interrupted check --live cycles, the tasks on disk (guarded\n"
    "      or not; running, exited or lost). With failover options, also the node's observed\n"
    "      state (MASTER/BACKUP/..., VIP held, demote count). Never changes anything.\n"
    "  check [--config FILE] [failover options] [--state-dir DIR] [--live] [--verbose]\n"
    "      Validates the failover options exactly as the plugin does, checks the tools, the\n"
    "      group, the interfaces and the track file, and prints the current state. --live then\n"
    "      runs one real demote -> confirm -> restore cycle through the plugin's ledger and\n"
    "      handshake and prints its timings. --verbose adds the handshake's events and the\n"
    "      plugin's log lines (stderr).\n"
    "  version\n"
    "      Prints the version.\n"
    "  help\n"
    "      Prints this text.\n"
    "\n"
    "Failover options, named like the keys of the plugin's failover block:\n"
    "  --backend=openbsd-carp|freebsd-carp|keepalived|command  --group=NAME\n"
    "  --interfaces=IF[,IF...]  --vip=ADDR[,ADDR...]   (both may also repeat)\n"
    "  --demote_by=N  --confirm_timeout=10s  --poll_interval=50ms  --settle=0s\n"
    "  --track_file=PATH  --state_file=PATH\n"
    "  --ifconfig_path=PATH  --sysctl_path=PATH  --ip_path=PATH  --demote_via=kernel|tool\n"
    "  --observe_via=kernel|tool\n"
    "  --handover=resign|weighted  --vrid=N   (keepalived)\n"
    "  --confirm_command=JSON  --demote_command=JSON  --restore_command=JSON\n"
    "  --state_command=JSON    (one JSON array of strings: '[\"/usr/local/sbin/vip\", \"down\"]')\n"
    "  --config FILE  the plugin config in JSON ({\"failover\": {...}}) or a Nomad agent config\n"
    "                 in JSON (plugin \"carp_exec\" config inside); flags override its keys\n"
    "  --state-dir DIR  the plugin's state_dir (default: the config's, else the OS\n"
    "                   default)\n"
    "Values are given as --name=VALUE or --name VALUE.\n"
    "\n"
    "Exit status: 0 ok; 1 a check failed (invalid options, unusable tool/group/interface/\n"
    "track file, hand-over not confirmed, status could not read something); 2 usage error;\n"
    "3 refused (check --live while a hand-over is in progress, while carp_exec holds the node\n"
    "demoted, or while another check --live runs).\n"
    "See carp_exec(8).\n";

}  // namespace

const char* UsageText() { return kUsage; }

void Write(std::FILE* file, absl::string_view text) {
  std::fwrite(text.data(), 1, text.size(), file);
  std::fflush(file);
}

int RunStatus(const std::vector<std::string>& args, std::FILE* out, std::FILE* err) {
  absl::StatusOr<CommandLine> line = ParseCommandLine(args, AcceptedFlags{.json = true});
  if (!line.ok()) {
    Write(err, absl::StrCat("carp_exec status: ", line.status().message(), "\n"));
    return kExitUsage;
  }
  if (line->help) {
    Write(out, kUsage);
    return kExitOk;
  }
  log::SetLevel(line->verbose ? log::Level::kDebug : log::Level::kError);
  absl::StatusOr<ResolvedConfig> resolved = ResolveConfig(*line);
  if (!resolved.ok()) {
    Write(err, absl::StrCat("carp_exec status: ", resolved.status().message(), "\n"));
    return absl::IsInvalidArgument(resolved.status()) ? kExitUsage : kExitCheckFailed;
  }
  fingerprint::SystemCommandRunner runner;
  StateReport report = ReadStateReport(resolved->state_dir, failover::ReadBootId());
  if (resolved->plugin.failover.has_value()) {
    report.failover = ObserveNode(*resolved->plugin.failover, &runner);
  }
  Write(out, line->json ? FormatStateJson(report) : FormatStateText(report));
  return report.has_errors() ? kExitCheckFailed : kExitOk;
}

int RunCommand(const std::vector<std::string>& args, std::FILE* out, std::FILE* err) {
  log::SetLevel(log::Level::kError);
  if (args.empty()) {
    Write(err, kUsage);
    return kExitUsage;
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "version" || command == "--version") {
    Write(out, absl::StrCat("carp_exec ", kPluginVersion, "\n"));
    return kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    Write(out, kUsage);
    return kExitOk;
  }
  if (command == "status") return RunStatus(rest, out, err);
  if (command == "check") return RunCheck(rest, out, err);
  Write(err, absl::StrCat("carp_exec: unknown command ", config::QuoteForMessage(command),
                          "; the commands are status, check, version and help\n\n", kUsage));
  return kExitUsage;
}

}  // namespace carp_exec::operator_cli
