// `nomad alloc exec` through the real plugin (issue 9): throughput of ExecTaskStreaming for
// stdout and for stdin, and the plugin's peak RSS while a client floods the stdin of a command
// that never reads it. Prints figures; asserts nothing.
//
//   exec_bench [--mib=1024] [--flood-mib=256] [--chunk-kib=64] [--rounds=3]
//
// The plugin is $CARP_EXEC_BINARY if set, else build/carp_exec (run the same bench against
// another build to compare). One task (`sleep 3600`) hosts every session:
//   stdout: `head -c N /dev/zero`, the client reads and counts every byte;
//   stdin:  `wc -c`, the client pushes N bytes in --chunk-kib messages, closes stdin, and
//           checks the count;
//   flood:  `sleep 1000`, the client pushes --flood-mib and gives up after 2 s without
//           progress; the plugin's VmHWM (peak RSS) before and after.
// Linux only (/proc).

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "bench/bench_support.h"
#include "tests/conformance/conformance_support.h"
#include "tests/conformance/lifecycle_support.h"
#include "tests/host/exec_client.h"
#include "tests/host/task_fixture.h"

namespace carp_exec::bench {
namespace {

using conformance::PluginProcess;
using test_host::ExecPlan;
using test_host::ExecRun;
namespace drivers = ::hashicorp::nomad::plugins::drivers::proto;

constexpr uint64_t kMiB = uint64_t{1} << 20;

struct Options {
  uint64_t mib = 1024;
  uint64_t flood_mib = 256;
  size_t chunk_kib = 64;
  int rounds = 3;
};

bool ParseOptions(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    uint64_t number = 0;
    if (absl::ConsumePrefix(&arg, "--mib=") && absl::SimpleAtoi(arg, &number) && number > 0) {
      options->mib = number;
    } else if (absl::ConsumePrefix(&arg, "--flood-mib=") && absl::SimpleAtoi(arg, &number) &&
               number > 0) {
      options->flood_mib = number;
    } else if (absl::ConsumePrefix(&arg, "--chunk-kib=") && absl::SimpleAtoi(arg, &number) &&
               number > 0) {
      options->chunk_kib = static_cast<size_t>(number);
    } else if (absl::ConsumePrefix(&arg, "--rounds=") && absl::SimpleAtoi(arg, &number) &&
               number > 0) {
      options->rounds = static_cast<int>(number);
    } else {
      std::fprintf(stderr,
                   "usage: exec_bench [--mib=N] [--flood-mib=N] [--chunk-kib=N] "
                   "[--rounds=N]\n");
      return false;
    }
  }
  return true;
}

double MiBPerSecond(uint64_t bytes, absl::Duration elapsed) {
  const double seconds = absl::ToDoubleSeconds(elapsed);
  return seconds > 0 ? static_cast<double>(bytes) / static_cast<double>(kMiB) / seconds : 0;
}

void Report(const char* what, const ExecRun& run, uint64_t bytes) {
  std::printf("%-7s %6.0f MiB/s  (%llu MiB in %s, exit %d%s)\n", what,
              MiBPerSecond(bytes, run.elapsed), static_cast<unsigned long long>(bytes / kMiB),
              Ms(run.elapsed).c_str(), run.exit_code,
              run.status.ok() ? "" : absl::StrCat(", ", run.status.error_message()).c_str());
}

int Run(const Options& options) {
  conformance::TempDir state;
  absl::StatusOr<std::unique_ptr<PluginProcess>> started = PluginProcess::Start();
  if (!started.ok()) {
    std::fprintf(stderr, "plugin: %s\n", std::string(started.status().message()).c_str());
    return 1;
  }
  PluginProcess& plugin = **started;
  if (absl::Status s = conformance::ConfigureLikeDriverManager(plugin, state.path()); !s.ok()) {
    std::fprintf(stderr, "configure: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<test_host::TaskFixture>> fixture =
      test_host::TaskFixture::Create();
  absl::StatusOr<std::string> config =
      conformance::EncodeTaskConfig(plugin, conformance::ShellConfig("exec sleep 3600"));
  if (!fixture.ok() || !config.ok()) {
    std::fprintf(stderr, "task fixture or config failed\n");
    return 1;
  }
  drivers::StartTaskRequest start;
  *start.mutable_task() = (*fixture)->MakeTaskConfig(*config);
  const std::string task_id = start.task().id();
  {
    grpc::ClientContext context;
    test_host::SetDeadline(&context, absl::Seconds(60));
    drivers::StartTaskResponse response;
    const grpc::Status status = plugin.driver().StartTask(&context, start, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "StartTask: %s\n", status.error_message().c_str());
      return 1;
    }
  }
  std::printf("plugin %s, pid %d; %d rounds of %llu MiB, stdin in %zu KiB messages\n",
              test_host::PluginBinaryPath().c_str(), plugin.pid(), options.rounds,
              static_cast<unsigned long long>(options.mib), options.chunk_kib);

  const uint64_t bytes = options.mib * kMiB;
  for (int round = 0; round < options.rounds; ++round) {
    ExecPlan out;
    out.task_id = task_id;
    out.command = {"/usr/bin/head", "-c", absl::StrCat(bytes), "/dev/zero"};
    out.deadline = absl::Minutes(10);
    out.stall_limit = absl::Seconds(30);  // a plugin that buffers everything pauses a while
    const ExecRun out_run = test_host::RunExecStream(plugin.driver(), out);
    Report("stdout", out_run, out_run.stdout_bytes);

    ExecPlan in;
    in.task_id = task_id;
    in.command = {"/usr/bin/wc", "-c"};
    in.stdin_bytes = bytes;
    in.chunk_bytes = options.chunk_kib * 1024;
    in.deadline = absl::Minutes(10);
    in.stall_limit = absl::Seconds(30);
    const ExecRun in_run = test_host::RunExecStream(plugin.driver(), in);
    const std::string counted(absl::StripAsciiWhitespace(in_run.stdout_tail));
    Report("stdin", in_run, in_run.stdin_sent);
    if (counted != absl::StrCat(bytes)) std::printf("        wc counted %s!\n", counted.c_str());
  }

  const long rss_before = test_host::ProcessStatusKb(plugin.pid(), "VmRSS");
  const long peak_before = test_host::ProcessStatusKb(plugin.pid(), "VmHWM");
  ExecPlan flood;
  flood.task_id = task_id;
  flood.command = {"/bin/sleep", "1000"};
  flood.stdin_bytes = options.flood_mib * kMiB;
  flood.chunk_bytes = options.chunk_kib * 1024;
  const ExecRun flood_run = test_host::RunExecStream(plugin.driver(), flood);
  const long peak_after = test_host::ProcessStatusKb(plugin.pid(), "VmHWM");
  const long rss_after = test_host::ProcessStatusKb(plugin.pid(), "VmRSS");
  std::printf("flood   %llu of %llu MiB accepted into `sleep` (%s)\n",
              static_cast<unsigned long long>(flood_run.stdin_sent / kMiB),
              static_cast<unsigned long long>(options.flood_mib),
              flood_run.stdin_sent < flood.stdin_bytes ? "the client was held back by flow control"
                                                       : "all of it: no flow control");
  std::printf("        plugin RSS %s before, %s after; peak RSS %s before, %s during the flood\n",
              MiB(rss_before).c_str(), MiB(rss_after).c_str(), MiB(peak_before).c_str(),
              MiB(peak_after).c_str());

  {
    drivers::DestroyTaskRequest destroy;
    destroy.set_task_id(task_id);
    destroy.set_force(true);
    grpc::ClientContext context;
    test_host::SetDeadline(&context, absl::Seconds(30));
    drivers::DestroyTaskResponse response;
    (void)plugin.driver().DestroyTask(&context, destroy, &response);
  }
  plugin.Shutdown();
  return 0;
}

}  // namespace
}  // namespace carp_exec::bench

int main(int argc, char** argv) {
  carp_exec::bench::Options options;
  if (!carp_exec::bench::ParseOptions(argc, argv, &options)) return 2;
  return carp_exec::bench::Run(options);
}
