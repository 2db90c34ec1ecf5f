// failover_e2e: carp_exec's failover handshake end to end, on the keepalived test bed.
//
//   failover_e2e --env "$(tests/failover/testbed env)" [--plugin build/carp_exec]
//                [--scenario
//                all|rolling-update|rolling-update-weighted|crash|crash-mid-handover|peer-down|
//                            overlapping-stops|late-ready]
//                [--handover resign|weighted]  (rolling-update-weighted runs the other one)
//                [--confirm-timeout 5s]
//                [--replacement-delay 0.5]
// runs the scenarios of issue 4 and exits 0 when every check passed, 1 otherwise.
//
//   failover_e2e --procedure --env ... --tag d [--replacement-delay 3]
// is procedure D for bench/procedures/run: it sets up carp_exec with a guarded server on edge-a,
// prints "<unix time> ready", waits for "go" on stdin, performs the rolling update printing
// "<unix time> <event>" lines (start, stop-returned, exited, replacement-started, restored, done,
// and "event <phase> <waited_ms> <message>" for each task event carp_exec sends, as it arrives,
// stamped with the event's own timestamp; phase and waited_ms are its annotations, "-" when
// absent), then waits for "quit" (or end of input) and cleans up.

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/failover/scenario_context.h"

#ifndef CARP_FAILOVER_SOURCE_DIR
#define CARP_FAILOVER_SOURCE_DIR "tests/failover"
#endif
#ifndef CARP_EXEC_PLUGIN_PATH
#define CARP_EXEC_PLUGIN_PATH "build/carp_exec"
#endif

namespace carp_exec::failover_test {
namespace {

void Usage() {
  std::fprintf(
      stderr,
      "usage: failover_e2e --env FILE [--plugin PATH] [--scenario all|rolling-update|"
      "rolling-update-weighted|crash|crash-mid-handover|peer-down|overlapping-stops|late-ready]\n"
      "                    [--handover resign|weighted]\n"
      "                    [--confirm-timeout 5s] [--replacement-delay SECONDS]\n"
      "       failover_e2e --procedure --env FILE [--tag d] [--replacement-delay S] "
      "[--handover resign|weighted]\n");
}

void EmitAt(absl::Time when, absl::string_view event) {
  std::printf("%.6f %s\n", absl::ToDoubleSeconds(when - absl::UnixEpoch()),
              std::string(event).c_str());
  std::fflush(stdout);
}

void Emit(absl::string_view event) { EmitAt(absl::Now(), event); }

bool ReadCommand(absl::string_view want) {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == want) return true;
    if (line == "quit") return false;
  }
  return false;
}

// Procedure D for the benchmark; see the file comment. Returns the exit code.
int RunProcedure(ScenarioContext& ctx, const std::string& tag) {
  if (absl::Status s = ctx.Reset(); !s.ok()) {
    std::fprintf(stderr, "failover_e2e: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  FileWatcher track(ctx.env().Must("CX_TRACK_A"), absl::Milliseconds(5));
  absl::StatusOr<std::unique_ptr<PluginSession>> plugin = ctx.StartPlugin(tag);
  if (!plugin.ok()) {
    std::fprintf(stderr, "failover_e2e: %s\n", std::string(plugin.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<std::string> first = (*plugin)->StartServer(ctx.Server(tag, "a1"));
  absl::Status serving = first.ok() ? ctx.WaitServing(track, absl::Seconds(20)) : first.status();
  if (!serving.ok()) {
    std::fprintf(stderr, "failover_e2e: %s\n", std::string(serving.message()).c_str());
    return 1;
  }
  Emit("ready");
  if (!ReadCommand("go")) return 0;
  const absl::Time start = absl::Now();
  // The plugin's task events, live, for the demo's timeline and its cross-checks:
  // "<carp_exec's timestamp> event <phase> <waited_ms> <message>".
  std::atomic<bool> printing{true};
  std::thread printer([&] {
    size_t printed = 0;
    for (int i = 0; i < 100000 && printing.load(); ++i) {
      std::vector<TaskEvent> events = (*plugin)->Events();
      for (; printed < events.size(); ++printed) {
        const TaskEvent& e = events[printed];
        if (e.received < start) continue;
        auto annotation = [&e](const std::string& key) {
          auto it = e.annotations.find(key);
          return it == e.annotations.end() || it->second.empty() ? std::string("-") : it->second;
        };
        EmitAt(e.stamped, absl::StrCat("event ", annotation("phase"), " ", annotation("waited_ms"),
                                       " ", e.message));
        // Processes the plugin created during the hand-over (bench/procedures/run reads it).
        if (annotation("phase") == "signalled" && annotation("forks") != "-") {
          EmitAt(e.stamped, absl::StrCat("forks ", annotation("forks")));
        }
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  absl::Cleanup stop_printer = [&] {
    printing = false;
    printer.join();
  };
  Emit("start carp_exec StopTask");
  absl::Status stopped = (*plugin)->StopTask(*first, ctx.settings().kill_timeout, "SIGTERM");
  Emit(stopped.ok() ? "stop-returned" : absl::StrCat("stop-failed ", stopped.message()));
  (void)(*plugin)->WaitExit(*first, absl::Seconds(10));
  Emit("exited");
  // When the task itself saw the signal (its own log), stamped with that time.
  if (std::optional<ServerEvent> signalled =
          FirstServerEvent(ReadServerLog(ctx.ServerLog(tag, "a1")), "signal")) {
    EmitAt(signalled->when, "signalled (the task's own log)");
  }
  (void)(*plugin)->DestroyTask(*first, true);
  absl::SleepFor(ctx.settings().replacement_delay);
  Emit("replacement-started");
  absl::StatusOr<std::string> second = (*plugin)->StartServer(ctx.Server(tag, "a2"));
  std::optional<absl::Time> demoted = track.FirstMatching(start, IsNonZero);
  if (second.ok() && demoted && track.WaitMatching(*demoted, IsZero, absl::Seconds(20))) {
    Emit("restored");
  } else {
    Emit(second.ok() ? "not-restored"
                     : absl::StrCat("replacement-failed ", second.status().message()));
  }
  absl::SleepFor(absl::Milliseconds(50));  // let the printer catch the restore event
  std::move(stop_printer).Invoke();
  Emit("done");
  ReadCommand("quit");
  if (second.ok()) (void)(*plugin)->DestroyTask(*second, true);
  (*plugin)->Shutdown();
  ctx.KillStrays();
  return 0;
}

}  // namespace
}  // namespace carp_exec::failover_test

int main(int argc, char** argv) {
  using namespace carp_exec::failover_test;  // NOLINT: a test program's main
  std::string env_path;
  std::string scenario = "all";
  std::string tag = "d";
  bool procedure = false;
  ScenarioSettings settings;
  settings.source_dir = CARP_FAILOVER_SOURCE_DIR;
  settings.plugin = CARP_EXEC_PLUGIN_PATH;
  if (const char* plugin = std::getenv("CARP_EXEC_BINARY")) settings.plugin = plugin;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        Usage();
        std::exit(2);
      }
      return argv[++i];
    };
    double seconds = 0;
    if (arg == "--env") {
      env_path = value();
    } else if (arg == "--plugin") {
      settings.plugin = value();
    } else if (arg == "--source-dir") {
      settings.source_dir = value();
    } else if (arg == "--scenario") {
      scenario = value();
    } else if (arg == "--confirm-timeout") {
      settings.confirm_timeout = value();
    } else if (arg == "--replacement-delay" && absl::SimpleAtod(value(), &seconds)) {
      settings.replacement_delay = absl::Seconds(seconds);
    } else if (arg == "--handover") {
      settings.handover = value();
    } else if (arg == "--procedure") {
      procedure = true;
    } else if (arg == "--tag") {
      tag = value();
    } else {
      Usage();
      return 2;
    }
  }
  if (env_path.empty()) {
    Usage();
    return 2;
  }
  absl::StatusOr<std::unique_ptr<ScenarioContext>> ctx =
      ScenarioContext::Create(env_path, settings);
  if (!ctx.ok()) {
    std::fprintf(stderr, "failover_e2e: %s\n", std::string(ctx.status().message()).c_str());
    return 1;
  }
  if (procedure) return RunProcedure(**ctx, tag);

  const bool all = scenario == "all";
  if (!all && scenario != "rolling-update" && scenario != "rolling-update-weighted" &&
      scenario != "crash" && scenario != "crash-mid-handover" && scenario != "peer-down" &&
      scenario != "overlapping-stops" && scenario != "late-ready") {
    Usage();
    return 2;
  }
  if (all || scenario == "rolling-update") RollingUpdateScenario(**ctx);
  if (all || scenario == "rolling-update-weighted") {
    const std::string handover = (*ctx)->settings().handover;
    (*ctx)->set_handover(handover == "weighted" ? "resign" : "weighted");
    RollingUpdateScenario(**ctx);
    (*ctx)->set_handover(handover);
  }
  if (all || scenario == "crash") CrashScenario(**ctx);
  if (all || scenario == "crash-mid-handover") CrashMidHandOverScenario(**ctx);
  if (all || scenario == "peer-down") PeerDownScenario(**ctx);
  if (all || scenario == "overlapping-stops") OverlappingStopsScenario(**ctx);
  if (all || scenario == "late-ready") LateReadyScenario(**ctx);
  const int failures = (*ctx)->failures();
  std::printf("failover_e2e: %s (%d failed check%s)\n", failures == 0 ? "PASS" : "FAIL", failures,
              failures == 1 ? "" : "s");
  return failures == 0 ? 0 : 1;
}
