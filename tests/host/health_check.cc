#include "tests/host/health_check.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace carp_exec::test_host {
namespace {

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";

void AppendVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

bool ReadVarint(absl::string_view* in, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

std::string EncodeHealthCheckRequest(absl::string_view service) {
  std::string out;
  if (service.empty()) return out;  // proto3 leaves an empty string off the wire
  out.push_back(0x0a);              // field 1, length-delimited
  AppendVarint(&out, service.size());
  out.append(service.data(), service.size());
  return out;
}

absl::StatusOr<ServingStatus> DecodeHealthCheckResponse(absl::string_view bytes) {
  uint64_t status = 0;  // absent field = UNKNOWN
  while (!bytes.empty()) {
    uint64_t tag = 0;
    if (!ReadVarint(&bytes, &tag)) return absl::DataLossError("health: truncated tag");
    const uint64_t field = tag >> 3;
    const uint64_t wire_type = tag & 7;
    uint64_t value = 0;
    if (wire_type == 0) {
      if (!ReadVarint(&bytes, &value)) return absl::DataLossError("health: truncated varint");
      if (field == 1) status = value;
    } else if (wire_type == 2) {
      if (!ReadVarint(&bytes, &value) || value > bytes.size()) {
        return absl::DataLossError("health: truncated length-delimited field");
      }
      bytes.remove_prefix(value);
    } else {
      return absl::DataLossError(absl::StrCat("health: unexpected wire type ", wire_type));
    }
  }
  if (status > 3) {
    return absl::DataLossError(absl::StrCat("health: status value ", status, " is not defined"));
  }
  return static_cast<ServingStatus>(status);
}

absl::StatusOr<ServingStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                          absl::string_view service, absl::Duration timeout) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  const std::string request_bytes = EncodeHealthCheckRequest(service);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::CompletionQueue queue;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
      stub.PrepareUnaryCall(&context, kCheckMethod, request, &queue);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  // The call carries a deadline, so this returns no later than that.
  if (!queue.Next(&tag, &ok)) return absl::InternalError("health: completion queue shut down");
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat(kCheckMethod, " failed: ", status.error_message()));
  }
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::DataLossError("health: unreadable response");
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return DecodeHealthCheckResponse(bytes);
}

}  // namespace carp_exec::test_host
