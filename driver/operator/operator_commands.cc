#include "driver/operator/operator_commands.h"

#include <cstdio>
#include <string>
#include <vector>

#include "driver/operator/operator_cli.h"

namespace carp_exec::operator_cli {

int Run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return RunCommand(args, stdout, stderr);
}

}  // namespace carp_exec::operator_cli
