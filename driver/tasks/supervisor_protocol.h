#pragma once
// The line protocol spoken on a supervisor's unix socket. One request line per connection turn:
//   "signal <n>\n" → "ok\n" | "error <text>\n"   kill(-pgid, n)
//   "status\n"     → "running <pid>\n"
// A connection that sends nothing is a watch: it sees EOF when the supervisor exits, which
// happens only after exit.pb is durable.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace carp_exec::tasks {

// Connects to the socket at `path` (non-blocking connect, CLOEXEC). Returns the fd, or
// Unavailable when nobody listens (ENOENT, ECONNREFUSED).
absl::StatusOr<int> ConnectSupervisor(absl::string_view path);

// Sends one request line (without "\n") and returns the reply line (without "\n"), within
// `timeout`.
absl::StatusOr<std::string> AskSupervisor(absl::string_view path, absl::string_view request,
                                          absl::Duration timeout);

}  // namespace carp_exec::tasks
