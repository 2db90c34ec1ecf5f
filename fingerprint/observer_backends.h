#pragma once
// The NodeObserver backends behind MakeNodeObserver, and what they share (internal to
// carp_fingerprint; the driver uses fingerprint/node_observer.h only).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fingerprint/command_runner.h"
#include "fingerprint/node_observer.h"

namespace carp_exec::fingerprint {

// Each takes options already validated and completed by MakeNodeObserver (tool paths set, vips
// canonical).
std::unique_ptr<NodeObserver> MakeOpenBsdCarpObserver(ObserverOptions options,
                                                      CommandRunner* runner);
std::unique_ptr<NodeObserver> MakeFreeBsdCarpObserver(ObserverOptions options,
                                                      CommandRunner* runner);
std::unique_ptr<NodeObserver> MakeKeepalivedObserver(ObserverOptions options,
                                                     CommandRunner* runner);
std::unique_ptr<NodeObserver> MakeCommandObserver(ObserverOptions options, CommandRunner* runner);

// Runs argv and returns its stdout if it exited 0 within `timeout` with its whole output.
// Otherwise an error that quotes the command, says what happened, and ends with `fix`
// ("check failover.interfaces").
absl::StatusOr<std::string> RunForOutput(CommandRunner* runner,
                                         const std::vector<std::string>& argv,
                                         absl::Duration timeout, absl::string_view fix);

// `failover: ifconfig_path "/sbin/ifconfig" is not usable: ...; set ifconfig_path to ...`.
absl::Status CheckTool(CommandRunner* runner, absl::string_view option, const std::string& path,
                       absl::string_view what);

// "192.0.2.10 held, 192.0.2.20 not held" for the configured vips.
std::string DescribeVips(const std::vector<std::string>& vips,
                         const std::vector<std::string>& held);

}  // namespace carp_exec::fingerprint
