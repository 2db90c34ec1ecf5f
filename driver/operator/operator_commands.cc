#include "driver/operator/operator_commands.h"

#include <cstdio>
#include <cstring>

#include "carp_exec/version.h"

namespace carp_exec::operator_cli {
namespace {

constexpr char kUsage[] =
    "usage: carp_exec version\n"
    "       (run without arguments by the Nomad agent as its task driver plugin)\n";

}  // namespace

int Run(int argc, char** argv) {
  if (argc >= 2 &&
      (std::strcmp(argv[1], "version") == 0 || std::strcmp(argv[1], "--version") == 0)) {
    std::printf("carp_exec %s\n", kPluginVersion);
    return 0;
  }
  std::fprintf(stderr, "carp_exec: unknown command \"%s\"\n%s", argc >= 2 ? argv[1] : "", kUsage);
  return 2;
}

}  // namespace carp_exec::operator_cli
