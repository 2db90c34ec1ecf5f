#pragma once
// The operator's side of the binary: `carp_exec version`, `status`, `check`.

namespace carp_exec::operator_cli {

// Runs the subcommand in argv[1]. Returns the process exit code:
// 0 success, 1 the check found a problem, 2 usage error.
int Run(int argc, char** argv);

}  // namespace carp_exec::operator_cli
