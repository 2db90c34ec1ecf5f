#include "driver/host/handshake.h"

#include <sys/un.h>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace carp_exec::host {

std::string NotLaunchedByNomadMessage() {
  return "carp_exec is a Nomad task driver plugin and is not meant to be run by hand.\n"
         "Put it in the Nomad client's plugin_dir and add a `plugin \"carp_exec\" { config { ... } "
         "}`\n"
         "block to the agent configuration; the Nomad agent launches it.\n"
         "Operator commands: carp_exec version | carp_exec status [--json] | carp_exec check\n";
}

VersionChoice NegotiateAppProtocol(const char* offered) {
  VersionChoice choice;
  if (offered == nullptr || *offered == '\0') return choice;
  for (absl::string_view part : absl::StrSplit(offered, ',')) {
    int v = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &v) && v == kAppProtocolVersion) {
      return choice;
    }
  }
  choice.warning = absl::StrCat("the host offered plugin protocol versions \"", offered,
                                "\" but carp_exec speaks version ", kAppProtocolVersion,
                                " (Nomad's driver protocol); the host will refuse the plugin. "
                                "Use a Nomad agent that launches driver plugins with version 2");
  return choice;
}

std::string HandshakeLine(int app_version, absl::string_view network, absl::string_view address) {
  return absl::StrCat(kCoreProtocolVersion, "|", app_version, "|", network, "|", address,
                      "|grpc|\n");
}

size_t MaxUnixSocketPath() { return sizeof(sockaddr_un{}.sun_path) - 1; }

absl::Status CheckUnixSocketPath(absl::string_view path) {
  if (path.size() <= MaxUnixSocketPath()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("plugin socket path \"", path, "\" is ", path.size(), " bytes, longer than the ",
                   MaxUnixSocketPath(), " bytes a unix socket path may have here; set TMPDIR (or ",
                   "PLUGIN_UNIX_SOCKET_DIR) to a shorter directory such as /tmp"));
}

}  // namespace carp_exec::host
