#pragma once
// The operator commands of the carp_exec binary, testable in-process: `status`, `check`,
// `version`, `help`. operator_commands.cc (the binary's entry) forwards argv here.
//
// Exit codes (also in carp_exec(8)):
//   0  ok (status reported; every check passed; the live cycle confirmed and restored)
//   1  a check failed: the options are invalid (the plugin's own error text), a tool, group,
//      interface or track file is unusable, the live cycle was not confirmed or could not
//      restore; for status: something in the state dir could not be read or the node could
//      not be observed
//   2  usage error: unknown command or option, missing value, malformed JSON in --config or a
//      command list
//   3  refused (check --live only): a hand-over is in progress, carp_exec holds this node
//      demoted, or another check --live is running; nothing was changed

#include <cstdio>
#include <string>
#include <vector>

namespace carp_exec::operator_cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitCheckFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRefused = 3;

// The text of `carp_exec help`.
const char* UsageText();

// Runs `carp_exec <args>` where args[0] is the command. Normal output goes to `out`, errors to
// `err`. Sets the process's log level (hclog lines on stderr only with --verbose).
int RunCommand(const std::vector<std::string>& args, std::FILE* out, std::FILE* err);

}  // namespace carp_exec::operator_cli
