#pragma once
// Log lines in the hclog JSON shape the Nomad agent parses from a plugin's stderr.
//
// Nomad type-asserts `@level`, `@message` and `@timestamp` to strings without checking;
// a non-string there panics the agent. This writer only ever emits strings for them,
// and escapes every value, so no input can produce a line the agent misreads.

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace carp_exec::log {

enum class Level { kTrace = 0, kDebug = 1, kInfo = 2, kWarn = 3, kError = 4 };

// Parses "trace|debug|info|warn|error" (any case). Returns false for anything else.
bool ParseLevel(absl::string_view text, Level* level);
absl::string_view LevelName(Level level);

// Extra key/value pairs of one line; values are always written as JSON strings.
using Fields = std::initializer_list<std::pair<absl::string_view, absl::string_view>>;

// Formats one hclog JSON line (without the trailing newline). Pure; used by tests.
std::string FormatLine(absl::Time when, Level level, absl::string_view module,
                       absl::string_view message, Fields fields);

// Process-wide sink. Thread-safe; each line is written with a single write(2).
// Defaults: level info, fd 2.
void SetLevel(Level level);
Level GetLevel();
void SetFd(int fd);

void Write(Level level, absl::string_view module, absl::string_view message, Fields fields = {});

inline void Trace(absl::string_view module, absl::string_view message, Fields fields = {}) {
  Write(Level::kTrace, module, message, fields);
}
inline void Debug(absl::string_view module, absl::string_view message, Fields fields = {}) {
  Write(Level::kDebug, module, message, fields);
}
inline void Info(absl::string_view module, absl::string_view message, Fields fields = {}) {
  Write(Level::kInfo, module, message, fields);
}
inline void Warn(absl::string_view module, absl::string_view message, Fields fields = {}) {
  Write(Level::kWarn, module, message, fields);
}
inline void Error(absl::string_view module, absl::string_view message, Fields fields = {}) {
  Write(Level::kError, module, message, fields);
}

// Escapes `text` as the inside of a JSON string (no surrounding quotes). Invalid UTF-8
// bytes become U+FFFD so the agent's JSON parser never rejects the line.
void AppendJsonEscaped(std::string* out, absl::string_view text);

}  // namespace carp_exec::log
