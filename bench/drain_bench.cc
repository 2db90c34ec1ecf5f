// Drain of N guarded tasks with the peer down (issue 11): the node stays MASTER, so every
// hand-over runs into confirm_timeout. Stops that overlap share one hand-over, so stopping N
// tasks at once must take about one confirm_timeout in total, not N of them.
//
//   drain_bench [path/to/carp_exec] [--confirm_timeout=2s] [--counts=1,4,16]
//
// The real plugin through the test host; failover { backend = "command" } whose state_command
// always answers MASTER (a peer that never takes over), demote/restore = /bin/true. Each round
// starts N guarded `sleep 3600` tasks, sends N StopTask at once (callback API, kill_timeout 5s)
// and prints when the last one returned. Prints figures; asserts nothing.

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

// One round: N guarded tasks started, then all stopped at once. Returns the time until the
// last StopTask returned.
absl::StatusOr<absl::Duration> Round(PluginProcess& plugin, int count,
                                     const std::string& task_config) {
  drivers::Driver::Stub& stub = plugin.driver();
  CallTally tally;
  std::vector<std::unique_ptr<BenchTask>> tasks;
  for (int i = 0; i < count; ++i) {
    auto task = std::make_unique<BenchTask>(&tally);
    absl::StatusOr<std::unique_ptr<test_host::TaskFixture>> fixture =
        test_host::TaskFixture::Create();
    if (!fixture.ok()) return fixture.status();
    task->fixture = *std::move(fixture);
    task->config = task->fixture->MakeTaskConfig(task_config);
    absl::StatusOr<absl::Duration> started = task->Start(stub);
    if (!started.ok()) return started.status();
    tasks.push_back(std::move(task));
  }
  absl::SleepFor(absl::Milliseconds(300));  // the coordinator has seen every start
  const absl::Time began = absl::Now();
  for (auto& task : tasks) task->StopAsync(stub, absl::Seconds(5));
  if (!tally.AwaitStops(absl::Now() + absl::Minutes(5))) {
    return absl::DeadlineExceededError("StopTask calls did not return within 5 minutes");
  }
  const absl::Duration total = absl::Now() - began;
  if (tally.stop_errors() > 0) {
    return absl::InternalError(absl::StrCat(tally.stop_errors(), " StopTask calls failed"));
  }
  for (auto& task : tasks) (void)task->Destroy(stub);
  return total;
}

int Main(int argc, char** argv) {
  test_host::LaunchOptions launch;
  std::string confirm_timeout = "2s";
  std::vector<int> counts = {1, 4, 16};
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--confirm_timeout=")) {
      confirm_timeout = std::string(arg);
    } else if (absl::ConsumePrefix(&arg, "--counts=")) {
      counts.clear();
      for (absl::string_view n : absl::StrSplit(arg, ',')) {
        int value = 0;
        if (!absl::SimpleAtoi(n, &value) || value < 1 || value > 256) {
          std::fprintf(stderr, "--counts takes numbers from 1 to 256, got %s\n", argv[i]);
          return 2;
        }
        counts.push_back(value);
      }
    } else {
      launch.binary = argv[i];
    }
  }
  const std::optional<std::string> scratch = MakeScratchRoot("cdb");
  if (!scratch) return 1;
  const std::string& root = *scratch;
  absl::StatusOr<std::string> task_config = test_host::EncodeLikeNomad(
      config::TaskConfigSchema(), CtyValue::Map({{"command", CtyValue::String("/bin/sleep")},
                                                 {"args", CtyValue::StringList({"3600"})},
                                                 {"failover", CtyValue::Bool(true)}}));
  if (!task_config.ok()) {
    std::fprintf(stderr, "%s\n", std::string(task_config.status().message()).c_str());
    return 1;
  }
  std::printf(
      "drain_bench: N guarded tasks stopped at once, peer down (always MASTER), "
      "confirm_timeout %s\n",
      confirm_timeout.c_str());
  int failures = 0;
  for (int count : counts) {
    absl::StatusOr<std::unique_ptr<PluginProcess>> plugin = PluginProcess::Start(launch);
    if (!plugin.ok()) {
      std::fprintf(stderr, "plugin start failed: %s\n",
                   std::string(plugin.status().message()).c_str());
      return 1;
    }
    const std::string state_dir = absl::StrCat(root, "/state-", count);
    absl::Status configured = test_host::ConfigureLikeDriverManager(
        **plugin, state_dir,
        {{"failover",
          CtyValue::Map({{"backend", CtyValue::String("command")},
                         {"demote_command", CtyValue::StringList({"/bin/true"})},
                         {"restore_command", CtyValue::StringList({"/bin/true"})},
                         {"state_command", CtyValue::StringList({"/bin/echo", "MASTER"})},
                         {"confirm_timeout", CtyValue::String(confirm_timeout)},
                         {"poll_interval", CtyValue::String("50ms")}})}});
    absl::StatusOr<absl::Duration> total =
        configured.ok() ? Round(**plugin, count, *task_config) : configured;
    if (total.ok()) {
      std::printf("  N=%-3d  all %d StopTask returned after %s\n", count, count,
                  Ms(*total).c_str());
    } else {
      ++failures;
      std::printf("  N=%-3d  failed: %s\n", count, std::string(total.status().message()).c_str());
    }
    std::fflush(stdout);
  }
  (void)test_host::RemoveTree(root);
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace carp_exec::bench

int main(int argc, char** argv) { return carp_exec::bench::Main(argc, argv); }
