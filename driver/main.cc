// carp_exec: one binary, several modes.
//   (no arguments, launched by Nomad)  the task driver plugin
//   supervise <dir>                     the per-task supervisor (started by the plugin itself)
//   version | status | check            operator commands

// mallopt(M_ARENA_MAX) is glibc's. The BSDs have no use for <malloc.h>: FreeBSD keeps it only
// as a shim to <stdlib.h> that older releases flag as obsolete with a #warning (an error under
// -Werror; FreeBSD include/malloc.h), and OpenBSD has none (OpenBSD include/Makefile).
#if defined(__linux__)
#include <malloc.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "carp_exec/version.h"
#include "driver/driver.h"
#include "driver/host/handshake.h"
#include "driver/host/plugin_host.h"
#include "driver/log/hclog.h"
#include "driver/operator/operator_commands.h"
#include "driver/service/base_service.h"
#include "driver/service/driver_service.h"
#include "driver/tasks/process_identity.h"
#include "driver/tasks/supervisor.h"

namespace {

int RunPlugin(const char* argv0) {
  using carp_exec::host::kMagicCookieKey;
  using carp_exec::host::kMagicCookieValue;
  const char* cookie = std::getenv(kMagicCookieKey);
  if (cookie == nullptr || std::strcmp(cookie, kMagicCookieValue) != 0) {
    const std::string message = carp_exec::host::NotLaunchedByNomadMessage();
    std::fwrite(message.data(), 1, message.size(), stderr);
    return 1;
  }
  carp_exec::host::InstallPluginSignalHandlers();
#ifdef M_ARENA_MAX
  // glibc gives each thread that allocates its own arena and keeps freed memory there: after
  // 1,000 tasks came and went the plugin held ~50 MiB it no longer used (bench/scale_bench).
  // Two arenas are plenty for a mostly idle control plane.
  mallopt(M_ARENA_MAX, 2);
#endif

  carp_exec::Driver::Options options;
  absl::StatusOr<std::string> self = carp_exec::tasks::CurrentExecutablePath(argv0);
  if (!self.ok()) {
    carp_exec::log::Error("carp_exec", "cannot find the carp_exec executable to start supervisors",
                          {{"error", self.status().message()}});
    return 1;
  }
  options.self_exe = *self;
  carp_exec::Driver driver(options);
  carp_exec::service::BaseService base(&driver);
  carp_exec::service::DriverService service(&driver);

  carp_exec::host::PluginHost host;
  host.AddService(&base);
  host.AddService(&service);
  // Streams end before the server stops; the driver's runtime goes once no call uses it.
  host.OnStopServing([&] { service.CloseStreams(); });
  host.OnShutdown([&] { driver.Shutdown(); });
  return host.Run();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "supervise") == 0) {
    return carp_exec::tasks::RunSupervisor(argc, argv);
  }
  if (argc >= 2) return carp_exec::operator_cli::Run(argc, argv);
  return RunPlugin(argv[0]);
}
