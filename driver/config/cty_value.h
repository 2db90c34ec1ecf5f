#pragma once
// A small tree of the values Nomad sends as cty msgpack (plugin and task config).
//
// cty has more types than msgpack shows on the wire; this tree keeps only what the wire
// distinguishes: null, bool, number, string, list (cty list, set and tuple) and map (cty map
// and object). Types are applied later, by the field tables, which know what each field expects.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace carp_exec::config {

// A cty number as it arrived. cty numbers are arbitrary-precision; go-cty sends them as
// integers, float64, or (when neither holds them exactly) as decimal text.
class CtyNumber {
 public:
  enum class Source { kInteger, kUnsigned, kFloat, kText };

  static CtyNumber Integer(int64_t value);
  static CtyNumber Unsigned(uint64_t value);
  static CtyNumber Float(double value);
  // Parses decimal text: optional sign, digits, optional fraction, optional exponent
  // ("-12", "0.1", "18446744073709551616", "1e3"). Returns nullopt for anything else,
  // including text whose normalised form would exceed about a thousand digits.
  static std::optional<CtyNumber> FromText(absl::string_view text);

  Source source() const { return source_; }
  // True when the value is mathematically an integer (also beyond int64).
  bool IsWhole() const { return whole_; }
  // The value as int64 when it is whole and fits.
  std::optional<int64_t> AsInt64() const { return int64_; }
  // Nearest double (±inf for text beyond double's range).
  double AsDouble() const { return approx_; }
  // Decimal text for messages and for re-encoding: integers in full, floats as the
  // shortest text that reads back to the same double, text normalised (no exponent,
  // no redundant zeros). Infinities are "inf"/"-inf", NaN is "nan".
  const std::string& text() const { return text_; }
  // The raw integer for kUnsigned (whose value may exceed int64).
  uint64_t unsigned_value() const { return unsigned_; }

 private:
  Source source_ = Source::kInteger;
  bool whole_ = true;
  std::optional<int64_t> int64_;
  uint64_t unsigned_ = 0;
  double approx_ = 0;
  std::string text_ = "0";
};

class CtyValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kList, kMap };
  using Entry = std::pair<std::string, CtyValue>;

  CtyValue() = default;  // null
  static CtyValue Null() { return CtyValue(); }
  static CtyValue Bool(bool value);
  static CtyValue Number(CtyNumber value);
  static CtyValue Int(int64_t value) { return Number(CtyNumber::Integer(value)); }
  static CtyValue Double(double value) { return Number(CtyNumber::Float(value)); }
  // `binary` records that the wire used msgpack bin rather than str (cty dynamic type info).
  static CtyValue String(absl::string_view value, bool binary = false);
  static CtyValue List(std::vector<CtyValue> items);
  static CtyValue StringList(const std::vector<std::string>& items);
  // Entries keep their order; keys are expected to be unique.
  static CtyValue Map(std::vector<Entry> entries);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  // Accessors are valid only for the matching kind.
  bool boolean() const { return boolean_; }
  const CtyNumber& number() const { return number_; }
  const std::string& string() const { return text_; }
  bool is_binary() const { return binary_; }
  const std::vector<CtyValue>& items() const { return items_; }
  std::vector<CtyValue>& mutable_items() { return items_; }
  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>& mutable_entries() { return entries_; }
  // The value under `key` in a map, or nullptr.
  const CtyValue* Find(absl::string_view key) const;

 private:
  Kind kind_ = Kind::kNull;
  bool boolean_ = false;
  bool binary_ = false;
  CtyNumber number_;
  std::string text_;
  std::vector<CtyValue> items_;
  std::vector<Entry> entries_;
};

// Describes a value for an error message: `null`, `bool true`, `number 5`,
// `string "abc"` (escaped, long text shortened), `a list of 2 items`, `a map with keys "a", "b"`.
std::string DescribeValue(const CtyValue& value);

// Quotes text for a message: printable ASCII kept, everything else escaped, cut after
// 80 bytes with "...". Messages never carry raw control bytes from config input.
std::string QuoteForMessage(absl::string_view text);

}  // namespace carp_exec::config
