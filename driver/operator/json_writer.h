#pragma once
// A small JSON text builder for `carp_exec status --json`: objects, arrays, strings, numbers,
// booleans and null, written compactly with keys in the order the caller adds them (the
// documented key order). Strings are escaped with the logger's escaper, so any byte sequence
// from the state directory comes out as valid JSON.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace carp_exec::operator_cli {

class JsonWriter {
 public:
  // Containers. Inside an object every value is preceded by Key().
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(absl::string_view key);

  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Null when absent.
  JsonWriter& OptionalInt(const std::optional<int64_t>& value);
  JsonWriter& OptionalString(const std::optional<std::string>& value);
  JsonWriter& StringArray(const std::vector<std::string>& values);

  const std::string& text() const { return out_; }

 private:
  void BeforeValue();

  std::string out_;
  // One entry per open container: whether it already holds an element.
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

}  // namespace carp_exec::operator_cli
