#pragma once
// The go-plugin bootstrap as seen from the plugin: environment checks and the handshake line.
// Pure functions, so every rule is unit-tested without launching a process.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace carp_exec::host {

// The magic cookie Nomad sets for every plugin it launches (NOMAD_PLUGIN_MAGIC_COOKIE).
inline constexpr char kMagicCookieKey[] = "NOMAD_PLUGIN_MAGIC_COOKIE";
inline constexpr char kMagicCookieValue[] =
    "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255";
// go-plugin's core protocol and Nomad's application protocol (base.Handshake.ProtocolVersion).
inline constexpr int kCoreProtocolVersion = 1;
inline constexpr int kAppProtocolVersion = 2;

// The message shown when someone runs the plugin by hand instead of through the Nomad agent.
std::string NotLaunchedByNomadMessage();

// Chooses the app protocol version from PLUGIN_PROTOCOL_VERSIONS (comma list; may be empty or
// unset, meaning "the plugin's own"). Like go-plugin servers, answers our version even when the
// host did not offer it (the host then rejects it with "incompatible API version"), and says so
// in `warning` so the agent log explains the failure.
struct VersionChoice {
  int version = kAppProtocolVersion;
  std::string warning;  // empty when the host offered our version
};
VersionChoice NegotiateAppProtocol(const char* offered);

// `1|2|unix|/path|grpc|` — the line go-plugin's client parses (the sixth field is the empty
// server certificate: Nomad never enables AutoMTLS).
std::string HandshakeLine(int app_version, absl::string_view network, absl::string_view address);

// Longest unix socket path the platform accepts (sizeof(sockaddr_un::sun_path) - 1).
size_t MaxUnixSocketPath();

// Checks `path` fits sun_path; the error names the path, its length, the limit and the fix.
absl::Status CheckUnixSocketPath(absl::string_view path);

}  // namespace carp_exec::host
