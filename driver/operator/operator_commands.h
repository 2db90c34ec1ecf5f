#pragma once
// The operator's side of the binary: `carp_exec status | check | version | help`
// (see operator_cli.h and carp_exec(8)).

namespace carp_exec::operator_cli {

// Runs the subcommand in argv[1]. Returns the process exit code: 0 ok, 1 a check failed,
// 2 usage error, 3 refused (check --live while a hand-over is in progress).
int Run(int argc, char** argv);

}  // namespace carp_exec::operator_cli
