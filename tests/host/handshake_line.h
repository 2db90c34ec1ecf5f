#pragma once
// The go-plugin handshake line as a Nomad agent reads and checks it.
//
// A plugin prints `CORE|APP|NETWORK|ADDRESS|PROTOCOL[|SERVER_CERT[|MUX]]` on stdout. The host
// trims surrounding white space, splits on `|`, and refuses the plugin unless: there are at
// least four fields, CORE is 1, APP is one of the versions the host offered in
// PLUGIN_PROTOCOL_VERSIONS, NETWORK is `unix` or `tcp`, and PROTOCOL (netrpc when missing) is
// `grpc`, the only protocol Nomad allows.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace carp_exec::test_host {

// Nomad's host reads the handshake with a line scanner whose buffer stops at 64 KiB.
inline constexpr size_t kHandshakeLineLimit = 64 * 1024;

struct Handshake {
  int core_version = 0;
  int app_version = 0;
  std::string network;             // "unix" or "tcp"
  std::string address;             // socket path, or host:port
  std::string protocol;            // "grpc"
  std::string server_cert;         // field 6 as printed (empty for Nomad: no AutoMTLS)
  std::optional<std::string> mux;  // field 7 when present
  size_t field_count = 0;
};

// Parses and checks `line` (with or without its trailing newline) against the versions the
// host offered. The error names the field, the value seen and what the host expected.
absl::StatusOr<Handshake> ParseHandshake(absl::string_view line,
                                         absl::Span<const int> offered_versions);

// Parses a PLUGIN_PROTOCOL_VERSIONS value ("2", "1,2") into the versions a host offers.
// Entries that are not integers are skipped, as go-plugin's server does.
std::vector<int> ParseOfferedVersions(absl::string_view env_value);

// The gRPC target for a handshake's address: `unix:/path` or `ipv4:127.0.0.1:port`.
std::string GrpcTarget(const Handshake& handshake);

}  // namespace carp_exec::test_host
