#pragma once
// The subcommands behind RunCommand (operator_cli.h). Each takes its arguments without the
// command name and returns the exit code.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace carp_exec::operator_cli {

int RunStatus(const std::vector<std::string>& args, std::FILE* out, std::FILE* err);
int RunCheck(const std::vector<std::string>& args, std::FILE* out, std::FILE* err);

// Writes `text` to `file` as is.
void Write(std::FILE* file, absl::string_view text);

}  // namespace carp_exec::operator_cli
