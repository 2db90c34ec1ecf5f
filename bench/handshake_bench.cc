// Start-up cost of the plugin as Nomad sees it (issue 2 targets: ≤ 15 ms, ≤ 12 MiB):
//   1. exec → handshake line on stdout, median (and p90) of 50 launches;
//   2. resident memory of an idle plugin after handshake + SetConfig + Init + Fingerprint.
//
//   handshake_bench [path/to/carp_exec] [--runs=50]
// Prints figures; asserts nothing (the machine is shared and noisy).

#include <stdlib.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_support.h"
#include "tests/host/plugin_process.h"
#include "tests/host/plugin_setup.h"

namespace {

using carp_exec::test_host::LaunchOptions;
using carp_exec::test_host::PluginProcess;

}  // namespace

int main(int argc, char** argv) {
  LaunchOptions options;
  int runs = 50;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--runs=", 7) == 0) {
      if (!absl::SimpleAtoi(argv[i] + 7, &runs) || runs < 1) {
        std::fprintf(stderr, "--runs must be a positive number, got %s\n", argv[i] + 7);
        return 2;
      }
    } else {
      options.binary = argv[i];
    }
  }
  // Debug logs would only slow the plugin down; the agent's default level is info.
  std::vector<absl::Duration> times;
  for (int i = 0; i < runs; ++i) {
    const absl::Time start = absl::Now();
    auto plugin = PluginProcess::Spawn(options);
    if (!plugin.ok()) {
      std::fprintf(stderr, "launch failed: %s\n", std::string(plugin.status().message()).c_str());
      return 1;
    }
    auto line = (*plugin)->ReadHandshakeLine(absl::Now() + absl::Seconds(10));
    const absl::Duration took = absl::Now() - start;
    if (!line.ok()) {
      std::fprintf(stderr, "no handshake: %s\n", std::string(line.status().message()).c_str());
      return 1;
    }
    times.push_back(took);
    // The destructor SIGKILLs and reaps; the controller path is measured by the tests.
  }

  auto plugin = PluginProcess::Start(options);
  if (!plugin.ok()) {
    std::fprintf(stderr, "start failed: %s\n", std::string(plugin.status().message()).c_str());
    return 1;
  }
  PluginProcess& p = **plugin;
  {
    // Keep the bench's state out of the system state dir.
    char dir_template[] = "/tmp/carp_bench.XXXXXX";
    const char* state_dir = mkdtemp(dir_template);
    const absl::Status configured =
        carp_exec::test_host::ConfigureLikeDriverManager(p, state_dir ? state_dir : "/tmp");
    if (!configured.ok()) {
      std::fprintf(stderr, "set-up: %s\n", std::string(configured.message()).c_str());
    }
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    hashicorp::nomad::plugins::drivers::proto::FingerprintRequest req;
    auto reader = p.driver().Fingerprint(&ctx, req);
    hashicorp::nomad::plugins::drivers::proto::FingerprintResponse first;
    if (!reader->Read(&first)) std::fprintf(stderr, "no fingerprint\n");
    absl::SleepFor(absl::Milliseconds(500));  // let the plugin settle into idle
    const long rss = carp_exec::bench::ProcStatusField(p.pid(), "VmRSS");
    const long pss = carp_exec::bench::SmapsRollupField(p.pid(), "Pss");
    const long priv = carp_exec::bench::SmapsRollupField(p.pid(), "Private_Dirty");
    const long threads = carp_exec::bench::ProcStatusField(p.pid(), "Threads");
    ctx.TryCancel();
    using carp_exec::bench::Ms;
    using carp_exec::bench::Quantile;
    std::printf("handshake_bench: %d launches of %s\n", runs, options.binary.c_str());
    std::printf("  exec -> handshake line   median %s   p90 %s   min %s   (target <= 15 ms)\n",
                Ms(Quantile(times, 0.5)).c_str(), Ms(Quantile(times, 0.9)).c_str(),
                Ms(Quantile(times, 0.0)).c_str());
    std::printf(
        "  idle after SetConfig+Init+Fingerprint: RSS %s   PSS %s   private dirty %s   "
        "threads %ld   (target RSS <= 12 MiB)\n",
        carp_exec::bench::MiB(rss).c_str(), carp_exec::bench::MiB(pss).c_str(),
        carp_exec::bench::MiB(priv).c_str(), threads);
  }
  return 0;
}
