#pragma once
// Checks one plugin stderr line the way the Nomad agent reads it.
//
// The agent parses each stderr line as JSON; an object is an hclog entry whose `@level`,
// `@message` and `@timestamp` it type-asserts to strings without checking (anything else
// panics the agent), and whose `@timestamp` must have exactly six fraction digits or the line
// is demoted to a plain DEBUG message. We additionally require `@module`, as our logger
// always writes it.

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace carp_exec::test_host {

struct HclogEntry {
  std::string level;  // as written, e.g. "info"
  std::string message;
  std::string timestamp;  // as written
  absl::Time time;
  std::string module;
  std::map<std::string, std::string> fields;  // every other key, values as JSON text
};

// Parses `line`; the error says which rule failed and quotes the line.
absl::StatusOr<HclogEntry> ParseHclogLine(absl::string_view line);

}  // namespace carp_exec::test_host
