#pragma once
// One `nomad alloc exec` session driven the way a hostile or a busy client would: push N bytes
// of stdin in chunks (optionally closing stdin), read or ignore the output, and give up when
// nothing moves for a while. Used by the security tests (tests/security/stream_*) and by
// bench/exec_bench. Plus the plugin's memory as /proc reports it.
//
// Every wait is bounded: the call has a deadline, and a watchdog cancels it when neither the
// stdin writer nor the output reader made progress for `stall_limit` (with flow control, a
// flood into a command that never reads stdin stalls by design).

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "nomad/driver.grpc.pb.h"

namespace carp_exec::test_host {

struct ExecPlan {
  std::string task_id;
  std::vector<std::string> command;
  bool tty = false;
  uint64_t stdin_bytes = 0;                // pushed after setup, in chunks of chunk_bytes
  size_t chunk_bytes = size_t{64} * 1024;  // one ExecTaskStreamingRequest.stdin.data each
  bool close_stdin = true;                 // stdin.close after the data
  bool read_output = true;                 // false: never Read (a client that stopped reading)
  absl::Duration stall_limit = absl::Seconds(2);
  absl::Duration deadline = absl::Seconds(120);
};

struct ExecRun {
  grpc::Status status;
  uint64_t stdin_sent = 0;    // bytes whose Write succeeded
  uint64_t stdout_bytes = 0;  // counted, not kept
  std::string stdout_tail;    // the last 4 KiB of stdout
  bool exited = false;
  int exit_code = -1;
  bool stalled = false;    // the watchdog cancelled the call
  absl::Duration elapsed;  // from opening the stream to the end of both directions
};

// Runs one ExecTaskStreaming call as planned. Returns when the call ended (exit, error,
// deadline or stall).
ExecRun RunExecStream(hashicorp::nomad::plugins::drivers::proto::Driver::Stub& driver,
                      const ExecPlan& plan);

// A field of /proc/<pid>/status in KiB ("VmRSS", "VmHWM" = peak RSS); -1 when unknown
// (not Linux, process gone).
long ProcessStatusKb(pid_t pid, absl::string_view field);

}  // namespace carp_exec::test_host
