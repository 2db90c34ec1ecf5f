#include "driver/service/status_mapping.h"

#include <string>

#include "driver/tasks/task_errors.h"
#include "google/rpc/status.pb.h"
#include "nomad/recoverable_error.pb.h"

namespace carp_exec::service {

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::Status ToGrpcStartError(const absl::Status& status) {
  if (status.ok() || !tasks::IsRecoverable(status)) return ToGrpc(status);
  google::rpc::Status details;
  details.set_code(grpc::StatusCode::FAILED_PRECONDITION);
  details.set_message(std::string(status.message()));
  hashicorp::nomad::plugins::shared::structs::RecoverableError recoverable;
  recoverable.set_recoverable(true);
  // PackFrom is [[nodiscard]] in protobuf 36 (port_def.inc); it fails only if serializing fails,
  // and then the plain status is still the right answer.
  if (!details.add_details()->PackFrom(recoverable)) return ToGrpc(status);
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string(status.message()),
                      details.SerializeAsString());
}

}  // namespace carp_exec::service
