// Scale and speed of the real plugin (issue 3): N concurrent sleeping tasks started through
// build/carp_exec the way the Nomad client drives it, each with a WaitTask call held open and
// a TaskStats stream at 1 s. Prints plugin threads, memory and CPU, StartTask / StopTask /
// DestroyTask latency, and each supervisor's memory; asserts nothing.
//
//   scale_bench [--tasks=1000] [--binary=build/carp_exec] [--stop-one-by-one=200]
//               [--start-concurrency=1] [--settle=10] [--rounds=1] [--no-calls]
//               [--logs-disabled] [--max-minutes=30]
//
// --rounds repeats the whole cycle on the same plugin (growth between rounds is a leak, not
// allocator retention); --no-calls leaves out WaitTask and TaskStats to isolate their cost.
// Tasks run `/bin/sleep 3600`; stops send SIGINT (StopTask with no signal, kill_timeout 5 s).
// Every wait is bounded. Whatever happens, everything the bench started is stopped, destroyed
// or killed, and its temporary directory removed; SIGINT/SIGTERM or --max-minutes trigger that
// cleanup too. Linux only (/proc).
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "bench/bench_support.h"
#include "bench/scale_calls.h"
#include "bench/scale_processes.h"
#include "driver/config/plugin_config.h"
#include "driver/config/task_config.h"
#include "tests/host/nomad_config.h"
#include "tests/host/plugin_process.h"
#include "tests/host/plugin_setup.h"
#include "tests/host/process_scan.h"
#include "tests/host/task_fixture.h"

namespace carp_exec::bench {
namespace {

using config::CtyValue;
using test_host::PluginProcess;
using test_host::SetDeadline;
using test_host::TaskFixture;
namespace drivers = ::hashicorp::nomad::plugins::drivers::proto;

constexpr char kMarkerName[] = "CARP_SCALE_BENCH";
constexpr absl::Duration kKillTimeout = absl::Seconds(5);  // Nomad's default kill_timeout

struct Options {
  int tasks = 1000;
  std::string binary = test_host::PluginBinaryPath();
  int stop_one_by_one = 200;
  int start_concurrency = 1;
  absl::Duration settle = absl::Seconds(10);
  bool logs_disabled = false;
  absl::Duration max_runtime = absl::Minutes(30);
  int rounds = 1;
  bool no_calls = false;  // no WaitTask / TaskStats: isolates their cost in the plugin
};

bool ParseOptions(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    int number = 0;
    if (absl::ConsumePrefix(&arg, "--tasks=") && absl::SimpleAtoi(arg, &number) && number > 0) {
      options->tasks = number;
    } else if (absl::ConsumePrefix(&arg, "--binary=") && !arg.empty()) {
      options->binary = std::string(arg);
    } else if (absl::ConsumePrefix(&arg, "--stop-one-by-one=") && absl::SimpleAtoi(arg, &number) &&
               number >= 0) {
      options->stop_one_by_one = number;
    } else if (absl::ConsumePrefix(&arg, "--start-concurrency=") &&
               absl::SimpleAtoi(arg, &number) && number > 0 && number <= 64) {
      options->start_concurrency = number;
    } else if (absl::ConsumePrefix(&arg, "--settle=") && absl::SimpleAtoi(arg, &number) &&
               number >= 1) {
      options->settle = absl::Seconds(number);
    } else if (absl::ConsumePrefix(&arg, "--max-minutes=") && absl::SimpleAtoi(arg, &number) &&
               number >= 1) {
      options->max_runtime = absl::Minutes(number);
    } else if (absl::ConsumePrefix(&arg, "--rounds=") && absl::SimpleAtoi(arg, &number) &&
               number >= 1) {
      options->rounds = number;
    } else if (arg == "--no-calls") {
      options->no_calls = true;
    } else if (arg == "--logs-disabled") {
      options->logs_disabled = true;
    } else {
      std::fprintf(stderr,
                   "unknown or invalid argument \"%s\"\nusage: %s [--tasks=N] [--binary=PATH] "
                   "[--stop-one-by-one=N] [--start-concurrency=K] [--settle=SECONDS] "
                   "[--rounds=R] [--no-calls] [--logs-disabled] [--max-minutes=M]\n",
                   argv[i], argv[0]);
      return false;
    }
  }
  return true;
}

// What the watchdog needs to clean up after a signal or a run that took too long.
struct Emergency {
  std::atomic<pid_t> plugin_pid{0};
  std::string root;
  std::string state_dir;
  std::string marker;
};
Emergency g_emergency;

void KillEverything(const char* why) {
  std::fprintf(stderr, "scale_bench: %s: killing the plugin and every task it started\n", why);
  const pid_t plugin = g_emergency.plugin_pid.load();
  if (plugin > 0) kill(plugin, SIGKILL);
  for (int round = 0; round < 3; ++round) {
    KillSwarm(g_emergency.state_dir, kMarkerName, g_emergency.marker);
    absl::SleepFor(absl::Milliseconds(200));
  }
  (void)test_host::RemoveTree(g_emergency.root);
}

// Cleans up and exits on SIGINT/SIGTERM/SIGHUP (blocked in every thread) or when the run limit
// passes, whichever comes first; only the first of the two cleans up. Two detached threads: one
// in sigwait(), which every POSIX system has (OpenBSD has no sigtimedwait; OpenBSD
// lib/libc/Symbols.list), one sleeping until the limit. A normal run ends with exit() while both
// wait.
std::atomic<bool> g_watchdog_fired{false};

void StartWatchdog(absl::Duration limit) {
  std::thread([] {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
    int got = 0;
    while (sigwait(&set, &got) != 0) {
    }
    if (g_watchdog_fired.exchange(true)) return;
    KillEverything(strsignal(got));
    _exit(128 + got);
  }).detach();
  std::thread([limit] {
    const absl::Time deadline = absl::Now() + limit;
    while (absl::Now() < deadline)
      absl::SleepFor(std::min(deadline - absl::Now(), absl::Seconds(1)));
    if (g_watchdog_fired.exchange(true)) return;
    KillEverything("--max-minutes exceeded");
    _exit(3);
  }).detach();
}

struct Mean {
  double sum = 0;
  long count = 0;
  void Add(long kb) {
    if (kb < 0) return;
    sum += static_cast<double>(kb);
    ++count;
  }
  double mean() const { return count == 0 ? 0 : sum / static_cast<double>(count); }
};

std::string Latencies(const std::vector<absl::Duration>& samples) {
  return absl::StrCat("p50 ", Ms(Quantile(samples, 0.5)), "   p99 ", Ms(Quantile(samples, 0.99)),
                      "   max ", Ms(Quantile(samples, 1.0)), "   (n=", samples.size(), ")");
}

void PrintPlugin(const char* when, pid_t pid, long peak_threads) {
  std::printf(
      "  plugin %-22s threads %ld (peak %ld, target <= 32)   RSS %s   PSS %s   "
      "private dirty %s   fds %d\n",
      when, ProcStatusField(pid, "Threads"), peak_threads,
      MiB(ProcStatusField(pid, "VmRSS")).c_str(), MiB(SmapsRollupField(pid, "Pss")).c_str(),
      MiB(SmapsRollupField(pid, "Private_Dirty")).c_str(), CountFds(pid));
}

// The memory figures of the swarm, once all tasks run.
void PrintSwarm(const std::string& state_dir, pid_t plugin_pid, double plugin_pss_growth_kib,
                double plugin_rss_growth_kib, int tasks) {
  const Swarm swarm = FindSwarm(state_dir);
  Mean rss, pss, private_dirty, private_clean, task_rss, task_pss, threads, fds;
  long under_bench = 0, under_plugin = 0, under_init = 0;
  for (const SwarmProcess& s : swarm.supervisors) {
    rss.Add(SmapsRollupField(s.pid, "Rss"));
    pss.Add(SmapsRollupField(s.pid, "Pss"));
    private_dirty.Add(SmapsRollupField(s.pid, "Private_Dirty"));
    private_clean.Add(SmapsRollupField(s.pid, "Private_Clean"));
    threads.Add(ProcStatusField(s.pid, "Threads"));
    fds.Add(CountFds(s.pid));
    under_bench += s.ppid == getpid();
    under_plugin += s.ppid == plugin_pid;
    under_init += s.ppid == 1;
  }
  for (const SwarmProcess& t : swarm.tasks) {
    task_rss.Add(SmapsRollupField(t.pid, "Rss"));
    task_pss.Add(SmapsRollupField(t.pid, "Pss"));
  }
  std::printf(
      "  supervisors found %zu (parent: bench/subreaper %ld, plugin %ld, init %ld), "
      "tasks found %zu of %d\n",
      swarm.supervisors.size(), under_bench, under_plugin, under_init, swarm.tasks.size(), tasks);
  std::printf(
      "  per supervisor (mean of %ld)  RSS %.1f KiB   PSS %.1f KiB   private dirty %.1f KiB"
      "   private clean %.1f KiB   threads %.1f   fds %.1f   (target <= 1 MiB)\n",
      rss.count, rss.mean(), pss.mean(), private_dirty.mean(), private_clean.mean(), threads.mean(),
      fds.mean());
  std::printf(
      "  per task process (/bin/sleep, mean of %ld)  RSS %.1f KiB   PSS %.1f KiB   "
      "(the workload itself, not driver cost)\n",
      task_rss.count, task_rss.mean(), task_pss.mean());
  const double per_task_pss = pss.mean() + plugin_pss_growth_kib / tasks;
  const double per_task_rss = rss.mean() + plugin_rss_growth_kib / tasks;
  std::printf(
      "  driver memory per task: supervisor PSS + plugin PSS growth / tasks = %.1f + %.1f "
      "= %.1f KiB   (RSS basis: %.1f + %.1f = %.1f KiB)\n",
      pss.mean(), plugin_pss_growth_kib / tasks, per_task_pss, rss.mean(),
      plugin_rss_growth_kib / tasks, per_task_rss);
  std::printf(
      "  raw_exec for comparison (documented, not measured here): one `nomad executor` "
      "per task, ~10-25 MB RSS each (Nomad issues #6543, #9858)\n");
}

// hclog JSON lines carry "@level":"<level>".
bool AtLevel(const std::string& line, const char* level) {
  return line.find(absl::StrCat("\"@level\":\"", level, "\"")) != std::string::npos;
}
int CountLevel(const std::vector<std::string>& lines, const char* level) {
  int count = 0;
  for (const std::string& line : lines) count += AtLevel(line, level);
  return count;
}
std::vector<std::string> FirstAtLevel(const std::vector<std::string>& lines, const char* level,
                                      size_t limit) {
  std::vector<std::string> out;
  for (const std::string& line : lines) {
    if (out.size() < limit && AtLevel(line, level)) out.push_back(line);
  }
  return out;
}

// What every round shares: the plugin and the figures of the idle plugin.
struct Bench {
  const Options& options;
  PluginProcess& plugin;
  PeakThreads& threads;
  std::string state_dir;
  std::string task_config;  // cty-msgpack bytes of {command, args}
  long idle_pss = 0;
  long idle_rss = 0;
};

// One round: prepare, start, hold, stop, destroy `options.tasks` tasks. Returns false if some
// call never completed (then its BenchTask is left allocated on purpose).
bool RunRound(Bench& bench, int round) {
  const Options& options = bench.options;
  const pid_t plugin_pid = bench.plugin.pid();
  drivers::Driver::Stub& stub = bench.plugin.driver();
  auto drain = std::make_unique<FifoDrain>();
  CallTally tally;
  std::vector<std::unique_ptr<BenchTask>> tasks;
  for (int i = 0; i < options.tasks; ++i) {
    test_host::TaskFixtureOptions fixture_options;
    fixture_options.log_collection = false;  // FIFOs come from FifoDrain, not a thread each
    fixture_options.logs_disabled = options.logs_disabled;
    absl::StatusOr<std::unique_ptr<TaskFixture>> fixture = TaskFixture::Create(fixture_options);
    absl::Status made = fixture.status();
    if (made.ok() && !options.logs_disabled) made = drain->Add((*fixture)->stdout_fifo());
    if (made.ok() && !options.logs_disabled) made = drain->Add((*fixture)->stderr_fifo());
    if (!made.ok()) {
      std::fprintf(stderr, "task %d: %s\n", i, std::string(made.message()).c_str());
      break;
    }
    auto task = std::make_unique<BenchTask>(&tally);
    task->config = (*fixture)->MakeTaskConfig(bench.task_config);
    (*task->config.mutable_env())[kMarkerName] = g_emergency.marker;
    task->fixture = std::move(*fixture);
    tasks.push_back(std::move(task));
  }
  std::printf("round %d:\n", round);

  // --- start, each task then gets its WaitTask and TaskStats calls ---
  std::vector<std::vector<absl::Duration>> start_times(options.start_concurrency);
  std::atomic<size_t> next{0};
  std::atomic<int> start_errors{0};
  const absl::Time start_began = absl::Now();
  const absl::Time calls_deadline = start_began + options.max_runtime;
  {
    std::vector<std::thread> starters;
    for (int k = 0; k < options.start_concurrency; ++k) {
      starters.emplace_back([&, k] {
        for (size_t i = next++; i < tasks.size(); i = next++) {
          if (start_errors.load() >= 20) return;  // something is badly wrong: stop piling on
          absl::StatusOr<absl::Duration> took = tasks[i]->Start(stub);
          if (!took.ok()) {
            if (start_errors++ < 5) {
              std::fprintf(stderr, "%s\n", std::string(took.status().message()).c_str());
            }
            continue;
          }
          start_times[k].push_back(*took);
          if (!options.no_calls) tasks[i]->OpenWaitAndStats(stub, calls_deadline);
          if ((i + 1) % 100 == 0) {
            std::fprintf(stderr, "  ... %zu started, %.1f s, plugin threads %d\n", i + 1,
                         absl::ToDoubleSeconds(absl::Now() - start_began),
                         CountDirectoryEntries(absl::StrCat("/proc/", plugin_pid, "/task")));
          }
        }
      });
    }
    for (std::thread& t : starters) t.join();
  }
  const absl::Duration start_wall = absl::Now() - start_began;
  std::vector<absl::Duration> start_latency;
  for (const auto& part : start_times) {
    start_latency.insert(start_latency.end(), part.begin(), part.end());
  }
  std::printf("  StartTask (concurrency %d)     %s   errors %d   wall %.1f s\n",
              options.start_concurrency, Latencies(start_latency).c_str(), start_errors.load(),
              absl::ToDoubleSeconds(start_wall));
  PrintPlugin("after all starts:", plugin_pid, bench.threads.TakePeak());

  // --- steady state: every task running, WaitTask and TaskStats open ---
  const long messages_before = tally.stats_messages();
  const absl::Duration cpu_before = ProcessCpuTime(plugin_pid);
  absl::SleepFor(options.settle);
  const absl::Duration cpu_used = ProcessCpuTime(plugin_pid) - cpu_before;
  const long messages = tally.stats_messages() - messages_before;
  std::printf(
      "  steady %.0f s: plugin CPU %.1f%% of one core   TaskStats messages %.0f/s   "
      "open WaitTask %d   open TaskStats %d%s\n",
      absl::ToDoubleSeconds(options.settle), 100 * absl::FDivDuration(cpu_used, options.settle),
      static_cast<double>(messages) / absl::ToDoubleSeconds(options.settle), tally.waits_open(),
      tally.streams_open(), options.no_calls ? "   (--no-calls)" : "   (interval 1 s)");
  PrintPlugin("steady, all running:", plugin_pid, bench.threads.TakePeak());
  PrintSwarm(bench.state_dir, plugin_pid,
             static_cast<double>(SmapsRollupField(plugin_pid, "Pss") - bench.idle_pss),
             static_cast<double>(ProcStatusField(plugin_pid, "VmRSS") - bench.idle_rss),
             static_cast<int>(start_latency.size()));
  std::fflush(stdout);

  // --- stop: some one by one, then all the rest at once ---
  std::vector<absl::Duration> stop_serial;
  int stop_errors = 0;
  size_t index = 0;
  for (int stopped = 0; index < tasks.size() && stopped < options.stop_one_by_one; ++index) {
    if (!tasks[index]->started()) continue;
    absl::StatusOr<absl::Duration> took = tasks[index]->StopNow(stub, kKillTimeout);
    ++stopped;
    if (took.ok()) {
      stop_serial.push_back(*took);
    } else if (stop_errors++ < 5) {
      std::fprintf(stderr, "%s\n", std::string(took.status().message()).c_str());
    }
  }
  std::printf("  StopTask one by one (SIGINT)   %s   errors %d\n", Latencies(stop_serial).c_str(),
              stop_errors);
  const absl::Time burst_began = absl::Now();
  for (; index < tasks.size(); ++index) {
    if (tasks[index]->started()) tasks[index]->StopAsync(stub, kKillTimeout);
  }
  const bool burst_done = tally.AwaitStops(absl::Now() + kKillTimeout + absl::Minutes(2));
  const absl::Duration burst_wall = absl::Now() - burst_began;
  const std::vector<absl::Duration> burst = tally.burst_stop_times();
  std::printf("  StopTask the other %zu at once  %s   errors %d   wall %.2f s%s\n", burst.size(),
              Latencies(burst).c_str(), tally.stop_errors(), absl::ToDoubleSeconds(burst_wall),
              burst_done ? "" : "   (SOME NEVER RETURNED)");
  PrintPlugin("after the stops:", plugin_pid, bench.threads.TakePeak());

  // Every WaitTask must have returned with SIGINT, every stats stream must have ended.
  const bool waits_done = tally.AwaitWaits(absl::Now() + absl::Seconds(60));
  const bool streams_done = tally.AwaitStreams(absl::Now() + absl::Seconds(30));
  if (!options.no_calls) {
    std::printf("  WaitTask: %s\n  TaskStats: %s\n", tally.DescribeWaits().c_str(),
                tally.DescribeStreams().c_str());
  }

  // --- destroy ---
  std::vector<absl::Duration> destroy_times;
  int destroy_errors = 0;
  for (auto& task : tasks) {
    if (!task->started()) continue;
    absl::StatusOr<absl::Duration> took = task->Destroy(stub);
    if (took.ok()) {
      destroy_times.push_back(*took);
    } else if (destroy_errors++ < 5) {
      std::fprintf(stderr, "%s\n", std::string(took.status().message()).c_str());
    }
  }
  std::printf("  DestroyTask                    %s   errors %d\n", Latencies(destroy_times).c_str(),
              destroy_errors);
  Swarm left = FindSwarm(bench.state_dir);
  const absl::Time leak_deadline = absl::Now() + absl::Seconds(10);
  while ((!left.supervisors.empty() || !left.tasks.empty()) && absl::Now() < leak_deadline) {
    absl::SleepFor(absl::Milliseconds(200));
    left = FindSwarm(bench.state_dir);
  }
  const size_t marked = ProcessesWithEnvEntry(kMarkerName, g_emergency.marker).size();
  std::printf(
      "  after destroy: supervisors left %zu   task processes left %zu (env-marked %zu)"
      "   entries in <state_dir>/tasks %d\n",
      left.supervisors.size(), left.tasks.size(), marked,
      CountDirectoryEntries(bench.state_dir + "/tasks"));
  absl::SleepFor(absl::Seconds(1));  // let gRPC retire the finished calls
  PrintPlugin("after destroy:", plugin_pid, bench.threads.TakePeak());
  std::fflush(stdout);

  if (!burst_done || !waits_done || !streams_done) {
    for (auto& task : tasks) task->CancelCalls();
    tally.AwaitAll(absl::Now() + absl::Seconds(30));
  }
  if (!tally.AllCallsDone()) {
    // Never free a call gRPC may still complete; leaving them is safe since we exit soon.
    std::fprintf(stderr, "scale_bench: some calls never completed; leaving them allocated\n");
    for (auto& task : tasks) (void)task.release();
    return false;
  }
  return left.supervisors.empty() && left.tasks.empty() && marked == 0 && start_errors == 0 &&
         stop_errors == 0 && tally.stop_errors() == 0 && destroy_errors == 0;
}

}  // namespace

int Run(const Options& options) {
  const std::optional<std::string> scratch = MakeScratchRoot("csb");
  if (!scratch) return 1;
  const std::string& root = *scratch;
  g_emergency.root = root;
  g_emergency.state_dir = root + "/state";
  g_emergency.marker = root.substr(root.rfind('/') + 1);
  // MakeScratchRoot pointed $TMPDIR (TaskFixture's alloc dirs) there before any thread started.
  StartWatchdog(options.max_runtime);

  std::printf("scale_bench: %d tasks (/bin/sleep 3600) x %d round(s) through %s, logs %s\n",
              options.tasks, options.rounds, options.binary.c_str(),
              options.logs_disabled ? "disabled (/dev/null)" : "on logmon-like FIFOs");
  std::printf("limits:\n%s",
              RaiseLimits(4L * options.tasks + 1024, 2L * options.tasks + 256).c_str());
  const bool subreaper = test_host::BecomeSubreaper();
  std::fflush(stdout);

  test_host::LaunchOptions launch;
  launch.binary = options.binary;
  absl::StatusOr<std::unique_ptr<PluginProcess>> started = PluginProcess::Start(launch);
  if (!started.ok()) {
    std::fprintf(stderr, "plugin start failed: %s\n",
                 std::string(started.status().message()).c_str());
    (void)test_host::RemoveTree(root);
    return 1;
  }
  std::unique_ptr<PluginProcess> plugin = std::move(*started);
  const pid_t plugin_pid = plugin->pid();
  g_emergency.plugin_pid = plugin_pid;
  auto reaper = std::make_unique<OrphanReaper>(plugin_pid);
  auto threads = std::make_unique<PeakThreads>(plugin_pid);

  absl::Status configured = test_host::ConfigureLikeDriverManager(*plugin, g_emergency.state_dir);
  absl::StatusOr<std::string> task_config = test_host::EncodeLikeNomad(
      config::TaskConfigSchema(), CtyValue::Map({{"command", CtyValue::String("/bin/sleep")},
                                                 {"args", CtyValue::StringList({"3600"})}}));
  if (configured.ok()) configured = task_config.status();
  if (!configured.ok()) {
    std::fprintf(stderr, "%s\n", std::string(configured.message()).c_str());
    KillEverything("setup failed");
    return 1;
  }
  absl::SleepFor(absl::Milliseconds(300));
  Bench bench{options, *plugin, *threads, g_emergency.state_dir, *task_config};
  bench.idle_pss = SmapsRollupField(plugin_pid, "Pss");
  bench.idle_rss = ProcStatusField(plugin_pid, "VmRSS");
  PrintPlugin("idle after Init:", plugin_pid, threads->TakePeak());

  bool clean = true;
  for (int round = 1; round <= options.rounds && clean; ++round) clean = RunRound(bench, round);

  const std::vector<std::string> lines = plugin->StderrLines();
  std::printf("plugin: peak RSS (VmHWM) %s   stderr lines %zu (warn %d, error %d)\n",
              MiB(ProcStatusField(plugin_pid, "VmHWM")).c_str(), lines.size(),
              CountLevel(lines, "warn"), CountLevel(lines, "error"));
  for (const std::string& line : FirstAtLevel(lines, "error", 3)) {
    std::printf("  plugin error: %s\n", line.c_str());
  }
  threads.reset();
  const test_host::ShutdownReport shutdown = plugin->Shutdown(absl::Seconds(5));
  std::printf("controller Shutdown: %s, exited in grace %s, %.0f ms\n",
              shutdown.rpc.ok() ? "ok" : std::string(shutdown.rpc.message()).c_str(),
              shutdown.exited_in_grace ? "yes" : "NO (killed)",
              absl::ToDoubleMilliseconds(shutdown.time_to_exit));
  g_emergency.plugin_pid = 0;
  const int killed = KillSwarm(g_emergency.state_dir, kMarkerName, g_emergency.marker);
  if (killed > 0) std::printf("cleanup killed %d leftover processes\n", killed);
  plugin.reset();
  absl::SleepFor(absl::Milliseconds(300));
  const long reaped = reaper->reaped() + static_cast<long>(test_host::ReapExitedChildren({}));
  reaper.reset();
  std::printf("exited supervisors reaped by the bench (subreaper %s): %ld\n",
              subreaper ? "yes" : "no", reaped);
  (void)test_host::RemoveTree(root);
  return clean && killed == 0 ? 0 : 1;
}

}  // namespace carp_exec::bench

int main(int argc, char** argv) {
  carp_exec::bench::Options options;
  if (!carp_exec::bench::ParseOptions(argc, argv, &options)) return 2;
  // Blocked before any thread exists, so only the watchdog ever receives them.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  const int code = carp_exec::bench::Run(options);
  std::fflush(stdout);
  return code;
}
