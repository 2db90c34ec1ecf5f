#pragma once
// Hex text ⇄ bytes for tests that spell out msgpack ("84 a4 61 72 ...").

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"

namespace carp_exec::config {

// Invalid hex (odd length, a non-hex digit) gives "": the spelled-out bytes are the test's
// own literals, and an empty input fails the assertions that use it.
inline std::string BytesFromHex(absl::string_view spaced) {
  const std::string hex = absl::StrReplaceAll(spaced, {{" ", ""}, {"\n", ""}});
  // Abseil 20240722 added `bool HexStringToBytes(string_view, std::string*)` and deprecated
  // the one returning std::string, which is all Debian 12's 20220623 has (abseil-cpp
  // absl/strings/escaping.h at those LTS tags).
#if !defined(ABSL_LTS_RELEASE_VERSION) || ABSL_LTS_RELEASE_VERSION >= 20240722
  std::string bytes;
  if (!absl::HexStringToBytes(hex, &bytes)) return "";
  return bytes;
#else
  return absl::HexStringToBytes(hex);
#endif
}

inline std::string HexFromBytes(absl::string_view bytes) {
  std::string hex = absl::BytesToHexString(bytes);
  std::string spaced;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (i > 0) spaced += ' ';
    spaced += hex.substr(i, 2);
  }
  return spaced;
}

}  // namespace carp_exec::config
