#pragma once
// Durations written the way Go's time.ParseDuration reads them ("250ms", "1m30s", "1.5h",
// "-2s", "0"), because Nomad users write every other duration in that syntax.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace carp_exec::config {

// Parses one or more <decimal number><unit> parts with an optional leading sign; units are
// ns, us, µs, μs, ms, s, m, h; "0" alone is zero. The result must fit int64 nanoseconds.
// Errors are InvalidArgument whose message says what is wrong with the text, e.g.
// `"10" has no unit; write "10s" or "10ms"`.
absl::StatusOr<absl::Duration> ParseGoDuration(absl::string_view text);

// Go-style text for a duration ("1m30s", "50ms", "0s"), for messages and defaults.
std::string FormatGoDuration(absl::Duration duration);

}  // namespace carp_exec::config
