#pragma once
// The one place where domain errors (absl::Status) become gRPC statuses.

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"

namespace carp_exec::service {

// Same code and message. absl's canonical codes are numerically gRPC's.
grpc::Status ToGrpc(const absl::Status& status);

// For StartTask: a recoverable error travels as FAILED_PRECONDITION whose first detail is
// hashicorp.nomad.plugins.shared.structs.RecoverableError{recoverable: true}; that detail is the
// only thing that makes Nomad apply the job's restart policy instead of failing the task.
grpc::Status ToGrpcStartError(const absl::Status& status);

}  // namespace carp_exec::service
