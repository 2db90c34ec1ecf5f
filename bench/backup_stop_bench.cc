// StopTask on a BACKUP node (issue 12 target: ≤ 2 ms extra before the signal, against an
// unguarded task): nothing has to move, so a guarded stop should cost one look at the node.
//
//   backup_stop_bench [path/to/carp_exec] [--runs=20] [--observe_via=kernel|tool]
//
// The real plugin through the test host (no root, no test bed), failover { backend =
// "keepalived" } with vip 192.0.2.77 (documentation range: no host has it, so the node is
// BACKUP) and its track_file in a temp dir. Each run starts one guarded and one unguarded
// `/bin/sleep 3600`, then stops both, one after the other (the order alternates), and times
// each StopTask until it returned. sleep ends at the signal, so what comes after the signal
// (delivery, exit, reaping) is the same for both and the difference is the guarded stop's
// extra time before its signal. Prints medians (min–max); asserts nothing.

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "bench/bench_support.h"
#include "bench/scale_calls.h"
#include "driver/config/plugin_config.h"
#include "driver/config/task_config.h"
#include "tests/host/nomad_config.h"
#include "tests/host/plugin_process.h"
#include "tests/host/plugin_setup.h"
#include "tests/host/task_fixture.h"

namespace carp_exec::bench {
namespace {

using config::CtyValue;
using test_host::PluginProcess;

absl::StatusOr<std::unique_ptr<BenchTask>> StartTask(drivers::Driver::Stub& stub, CallTally* tally,
                                                     const std::string& task_config) {
  auto task = std::make_unique<BenchTask>(tally);
  absl::StatusOr<std::unique_ptr<test_host::TaskFixture>> fixture =
      test_host::TaskFixture::Create();
  if (!fixture.ok()) return fixture.status();
  task->fixture = *std::move(fixture);
  task->config = task->fixture->MakeTaskConfig(task_config);
  absl::StatusOr<absl::Duration> started = task->Start(stub);
  if (!started.ok()) return started.status();
  return task;
}

std::string Summary(const std::vector<absl::Duration>& samples) {
  return absl::StrCat(Ms(Quantile(samples, 0.5)), " (", Ms(Quantile(samples, 0.0)), "–",
                      Ms(Quantile(samples, 1.0)), ")");
}

int Main(int argc, char** argv) {
  test_host::LaunchOptions launch;
  int runs = 20;
  std::string observe_via = "kernel";
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--runs=")) {
      if (!absl::SimpleAtoi(arg, &runs) || runs < 1 || runs > 1000) {
        std::fprintf(stderr, "--runs takes a number from 1 to 1000, got %s\n", argv[i]);
        return 2;
      }
    } else if (absl::ConsumePrefix(&arg, "--observe_via=")) {
      observe_via = std::string(arg);
    } else {
      launch.binary = argv[i];
    }
  }
  const std::optional<std::string> scratch = MakeScratchRoot("cbs");
  if (!scratch) return 1;
  const std::string& root = *scratch;
  auto encode = [](bool guarded) {
    return test_host::EncodeLikeNomad(config::TaskConfigSchema(),
                                      CtyValue::Map({{"command", CtyValue::String("/bin/sleep")},
                                                     {"args", CtyValue::StringList({"3600"})},
                                                     {"failover", CtyValue::Bool(guarded)}}));
  };
  absl::StatusOr<std::string> guarded_config = encode(true);
  absl::StatusOr<std::string> plain_config = encode(false);
  if (!guarded_config.ok() || !plain_config.ok()) {
    std::fprintf(stderr, "cannot encode the task configs\n");
    return 1;
  }
  absl::StatusOr<std::unique_ptr<PluginProcess>> plugin = PluginProcess::Start(launch);
  absl::Status status =
      plugin.ok()
          ? test_host::ConfigureLikeDriverManager(
                **plugin, root + "/state",
                {{"failover", CtyValue::Map({{"backend", CtyValue::String("keepalived")},
                                             {"vip", CtyValue::StringList({"192.0.2.77"})},
                                             {"track_file", CtyValue::String(root + "/track")},
                                             {"observe_via", CtyValue::String(observe_via)}})}})
          : plugin.status();
  std::vector<absl::Duration> guarded_times, plain_times, extra;
  for (int run = 0; status.ok() && run < runs; ++run) {
    drivers::Driver::Stub& stub = (*plugin)->driver();
    CallTally tally;
    absl::StatusOr<std::unique_ptr<BenchTask>> guarded = StartTask(stub, &tally, *guarded_config);
    absl::StatusOr<std::unique_ptr<BenchTask>> plain = StartTask(stub, &tally, *plain_config);
    if (!guarded.ok() || !plain.ok()) {
      status = guarded.ok() ? plain.status() : guarded.status();
      break;
    }
    absl::SleepFor(absl::Milliseconds(200));  // the coordinator has seen the start, restored
    absl::StatusOr<absl::Duration> g, p;
    if (run % 2 == 0) {
      g = (*guarded)->StopNow(stub, absl::Seconds(5));
      p = (*plain)->StopNow(stub, absl::Seconds(5));
    } else {
      p = (*plain)->StopNow(stub, absl::Seconds(5));
      g = (*guarded)->StopNow(stub, absl::Seconds(5));
    }
    if (!g.ok() || !p.ok()) {
      status = g.ok() ? p.status() : g.status();
      break;
    }
    guarded_times.push_back(*g);
    plain_times.push_back(*p);
    extra.push_back(*g - *p);
    (void)(*guarded)->Destroy(stub);
    (void)(*plain)->Destroy(stub);
  }
  std::printf(
      "backup_stop_bench: keepalived backend, node BACKUP (vip 192.0.2.77 not held), "
      "observe_via %s, %zu runs\n",
      observe_via.c_str(), extra.size());
  if (!extra.empty()) {
    std::printf("  StopTask, unguarded task:     %s\n", Summary(plain_times).c_str());
    std::printf("  StopTask, guarded task:       %s\n", Summary(guarded_times).c_str());
    std::printf("  extra for the guarded one:    %s  (per-run difference, median (min–max))\n",
                Summary(extra).c_str());
  }
  if (!status.ok()) std::printf("  failed: %s\n", std::string(status.message()).c_str());
  if (plugin.ok()) plugin->reset();
  (void)test_host::RemoveTree(root);
  return status.ok() ? 0 : 1;
}

}  // namespace
}  // namespace carp_exec::bench

int main(int argc, char** argv) { return carp_exec::bench::Main(argc, argv); }
