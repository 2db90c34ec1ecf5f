#include "tests/host/handshake_line.h"

#include <vector>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace carp_exec::test_host {
namespace {

absl::StatusOr<int> ParseVersionField(absl::string_view name, absl::string_view text) {
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("handshake: ", name, " field must be an integer, got \"", text, "\""));
  }
  return value;
}

}  // namespace

absl::StatusOr<Handshake> ParseHandshake(absl::string_view line,
                                         absl::Span<const int> offered_versions) {
  if (line.size() > kHandshakeLineLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("handshake: line of ", line.size(), " bytes exceeds the host's 64 KiB limit"));
  }
  const absl::string_view trimmed = absl::StripAsciiWhitespace(line);
  std::vector<absl::string_view> fields = absl::StrSplit(trimmed, '|');
  if (fields.size() < 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "handshake: need at least 4 '|'-separated fields (CORE|APP|NETWORK|ADDRESS), got ",
        fields.size(), " in \"", trimmed, "\""));
  }
  Handshake handshake;
  handshake.field_count = fields.size();

  absl::StatusOr<int> core = ParseVersionField("CORE", fields[0]);
  if (!core.ok()) return core.status();
  if (*core != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("handshake: CORE protocol version must be 1, got ", *core));
  }
  handshake.core_version = *core;

  absl::StatusOr<int> app = ParseVersionField("APP", fields[1]);
  if (!app.ok()) return app.status();
  if (!absl::c_linear_search(offered_versions, *app)) {
    return absl::FailedPreconditionError(
        absl::StrCat("handshake: incompatible API version with plugin: plugin answered APP=", *app,
                     ", host offered [", absl::StrJoin(offered_versions, ","), "]"));
  }
  handshake.app_version = *app;

  handshake.network = std::string(fields[2]);
  if (handshake.network != "unix" && handshake.network != "tcp") {
    return absl::InvalidArgumentError(absl::StrCat("handshake: unknown address type \"", fields[2],
                                                   "\"; the host accepts unix or tcp"));
  }
  handshake.address = std::string(fields[3]);
  if (handshake.address.empty()) {
    return absl::InvalidArgumentError("handshake: ADDRESS field is empty");
  }

  // A missing PROTOCOL field means netrpc, which Nomad refuses.
  handshake.protocol = fields.size() >= 5 ? std::string(fields[4]) : std::string("netrpc");
  if (handshake.protocol != "grpc") {
    return absl::FailedPreconditionError(absl::StrCat("handshake: plugin protocol \"",
                                                      handshake.protocol,
                                                      "\" is not allowed; Nomad allows grpc"));
  }
  if (fields.size() >= 6) handshake.server_cert = std::string(fields[5]);
  if (fields.size() >= 7) handshake.mux = std::string(fields[6]);
  return handshake;
}

std::vector<int> ParseOfferedVersions(absl::string_view env_value) {
  std::vector<int> versions;
  for (absl::string_view part : absl::StrSplit(env_value, ',')) {
    int version = 0;
    if (absl::SimpleAtoi(part, &version)) versions.push_back(version);
  }
  return versions;
}

std::string GrpcTarget(const Handshake& handshake) {
  if (handshake.network == "unix") return absl::StrCat("unix:", handshake.address);
  return absl::StrCat("ipv4:", handshake.address);
}

}  // namespace carp_exec::test_host
