#pragma once
// grpc.health.v1.Health/Check, the liveness probe go-plugin's host relies on.
//
// Debian ships no generated C++ for the health proto, and a second copy of its descriptors
// could clash with one linked elsewhere, so the two tiny messages are encoded by hand and the
// call goes through gRPC's generic stub. Wire format: request {1: string service}, response
// {1: enum status}.

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace carp_exec::test_host {

enum class ServingStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// Calls Health/Check for `service` with a deadline. A gRPC error becomes a Status with the
// same code and the method named in the message.
absl::StatusOr<ServingStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                          absl::string_view service, absl::Duration timeout);

// The two message encodings, exposed for the unit test.
std::string EncodeHealthCheckRequest(absl::string_view service);
absl::StatusOr<ServingStatus> DecodeHealthCheckResponse(absl::string_view bytes);

}  // namespace carp_exec::test_host
