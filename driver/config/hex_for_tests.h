#pragma once
// Hex text ⇄ bytes for tests that spell out msgpack ("84 a4 61 72 ...").

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"

namespace carp_exec::config {

inline std::string BytesFromHex(absl::string_view spaced) {
  return absl::HexStringToBytes(absl::StrReplaceAll(spaced, {{" ", ""}, {"\n", ""}}));
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
