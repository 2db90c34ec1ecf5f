#pragma once
// ExecTaskStreaming (`nomad alloc exec`): a bidi stream bridged to a tasks::ExecSession.

#include "driver/driver.h"
#include "nomad/driver.grpc.pb.h"

namespace carp_exec::service {

namespace drivers = hashicorp::nomad::plugins::drivers::proto;

// The client sends `setup` first, then stdin data/close, tty sizes and empty heartbeats; we send
// stdout/stderr chunks, `{stdout.close}` (and `{stderr.close}` without a tty), then
// `{exited: true, result}` and end the stream OK. The reactor deletes itself when done.
grpc::ServerBidiReactor<drivers::ExecTaskStreamingRequest, drivers::ExecTaskStreamingResponse>*
NewExecStream(Driver* driver);

}  // namespace carp_exec::service
