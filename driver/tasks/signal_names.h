#pragma once
// Signal names as Nomad passes them (`kill_signal = "SIGTERM"`, `nomad alloc signal -s SIGHUP`).

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace carp_exec::tasks {

// Accepts "SIGHUP", "HUP" and any letter case ("sighup"). Only signals of this platform are
// known. Anything else (including "" and numbers) ⇒ InvalidArgument naming the value and
// listing common valid names. The empty-means-SIGINT default is the caller's choice.
absl::StatusOr<int> ParseSignalName(absl::string_view name);

// "SIGTERM" for 15; "signal 99" for an unknown number.
std::string SignalName(int signo);

}  // namespace carp_exec::tasks
