#include "tests/host/exec_client.h"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/client_context.h"

namespace carp_exec::test_host {

namespace drivers = ::hashicorp::nomad::plugins::drivers::proto;

namespace {
constexpr size_t kTailBytes = 4096;
constexpr absl::Duration kWatchdogTick = absl::Milliseconds(50);
}  // namespace

ExecRun RunExecStream(drivers::Driver::Stub& driver, const ExecPlan& plan) {
  ExecRun run;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + plan.deadline));
  const absl::Time start = absl::Now();
  std::unique_ptr<grpc::ClientReaderWriter<drivers::ExecTaskStreamingRequest,
                                           drivers::ExecTaskStreamingResponse>>
      stream = driver.ExecTaskStreaming(&context);

  std::atomic<uint64_t> sent{0}, received{0};
  std::atomic<bool> writer_done{false}, reader_done{!plan.read_output}, stalled{false};

  std::thread writer([&] {
    drivers::ExecTaskStreamingRequest setup;
    setup.mutable_setup()->set_task_id(plan.task_id);
    for (const std::string& arg : plan.command) setup.mutable_setup()->add_command(arg);
    setup.mutable_setup()->set_tty(plan.tty);
    bool ok = stream->Write(setup);
    drivers::ExecTaskStreamingRequest chunk;
    const std::string data(std::max<size_t>(plan.chunk_bytes, 1), 'x');
    uint64_t left = plan.stdin_bytes;
    while (ok && left > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, data.size()));
      chunk.mutable_stdin()->set_data(data.data(), n);
      ok = stream->Write(chunk);
      if (ok) {
        left -= n;
        sent += n;
      }
    }
    if (ok && plan.close_stdin) {
      drivers::ExecTaskStreamingRequest close;
      close.mutable_stdin()->set_close(true);
      stream->Write(close);
    }
    writer_done = true;
  });

  std::thread reader;
  if (plan.read_output) {
    reader = std::thread([&] {
      drivers::ExecTaskStreamingResponse response;
      while (stream->Read(&response)) {
        if (response.has_stdout() && !response.stdout().data().empty()) {
          const std::string& data = response.stdout().data();
          received += data.size();
          run.stdout_tail += data;
          if (run.stdout_tail.size() > 2 * kTailBytes) {
            run.stdout_tail.erase(0, run.stdout_tail.size() - kTailBytes);
          }
        }
        if (response.has_stderr()) received += response.stderr().data().size();
        if (response.exited()) {
          run.exited = true;
          run.exit_code = response.result().exit_code();
        }
      }
      reader_done = true;
    });
  }

  // Watchdog: cancel when nothing moved for stall_limit (bounded by the call's deadline).
  uint64_t last_progress = 0;
  absl::Time last_change = absl::Now();
  // Without a reader, the client is done once its writes are and nothing moves any more.
  while (!writer_done || (plan.read_output ? !reader_done : !stalled)) {
    absl::SleepFor(kWatchdogTick);
    const uint64_t progress = sent + received;
    const absl::Time now = absl::Now();
    if (progress != last_progress) {
      last_progress = progress;
      last_change = now;
    } else if (now - last_change >= plan.stall_limit && !stalled) {
      stalled = true;
      context.TryCancel();
    }
  }
  writer.join();
  if (reader.joinable()) reader.join();
  run.elapsed = absl::Now() - start;
  if (!plan.read_output) context.TryCancel();
  stream->WritesDone();
  run.status = stream->Finish();
  run.stdin_sent = sent;
  run.stdout_bytes = received;
  run.stalled = stalled;
  return run;
}

long ProcessStatusKb(pid_t pid, absl::string_view field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, field) || !absl::ConsumePrefix(&rest, ":")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, " kB");
    long value = 0;
    if (absl::SimpleAtoi(rest, &value)) return value;
  }
  return -1;
}

}  // namespace carp_exec::test_host
