#include "driver/config/cty_value.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/charconv.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace carp_exec::config {
namespace {

// Normalised decimal texts longer than this are refused: no config value needs them, and
// it bounds the work a hostile input can cause.
constexpr int kMaxNumberDigits = 1000;

// Shortest fixed-notation text that reads back to `value` (what go's
// big.Float.Text('f', -1) prints for a float64-precision number).
std::string ShortestFixed(double value) {
  char buffer[1100];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed);
  if (result.ec != std::errc()) return absl::StrCat(value);
  return std::string(buffer, result.ptr);
}

}  // namespace

CtyNumber CtyNumber::Integer(int64_t value) {
  CtyNumber n;
  n.source_ = Source::kInteger;
  n.int64_ = value;
  n.approx_ = static_cast<double>(value);
  n.text_ = absl::StrCat(value);
  return n;
}

CtyNumber CtyNumber::Unsigned(uint64_t value) {
  CtyNumber n;
  n.source_ = Source::kUnsigned;
  n.unsigned_ = value;
  if (value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    n.int64_ = static_cast<int64_t>(value);
  }
  n.approx_ = static_cast<double>(value);
  n.text_ = absl::StrCat(value);
  return n;
}

CtyNumber CtyNumber::Float(double value) {
  CtyNumber n;
  n.source_ = Source::kFloat;
  n.approx_ = value;
  if (std::isnan(value)) {
    n.whole_ = false;
    n.text_ = "nan";
    return n;
  }
  if (std::isinf(value)) {
    n.whole_ = false;
    n.text_ = value > 0 ? "inf" : "-inf";
    return n;
  }
  n.whole_ = std::trunc(value) == value;
  // 2^63 is exactly representable; int64's range is [-2^63, 2^63).
  if (n.whole_ && value >= -9223372036854775808.0 && value < 9223372036854775808.0) {
    n.int64_ = static_cast<int64_t>(value);
  }
  n.text_ = n.int64_.has_value() ? absl::StrCat(*n.int64_) : ShortestFixed(value);
  return n;
}

std::optional<CtyNumber> CtyNumber::FromText(absl::string_view text) {
  if (text.empty() || text.size() > kMaxNumberDigits + 16) return std::nullopt;
  size_t i = 0;
  bool negative = false;
  if (text[i] == '-' || text[i] == '+') negative = text[i++] == '-';
  std::string digits;
  int64_t exponent = 0;
  bool any_digit = false;
  while (i < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) {
    digits.push_back(text[i++]);
    any_digit = true;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) {
      digits.push_back(text[i++]);
      --exponent;
      any_digit = true;
    }
  }
  if (!any_digit) return std::nullopt;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) exp_negative = text[i++] == '-';
    int64_t written = 0;
    bool exp_digit = false;
    while (i < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) {
      written = std::min<int64_t>(written * 10 + (text[i++] - '0'), 1000000);
      exp_digit = true;
    }
    if (!exp_digit) return std::nullopt;
    exponent += exp_negative ? -written : written;
  }
  if (i != text.size()) return std::nullopt;

  // Normalise to digits × 10^exponent with no leading or trailing zeros.
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return Integer(0);
  digits.erase(0, first);
  size_t last = digits.find_last_not_of('0');
  exponent += static_cast<int64_t>(digits.size() - 1 - last);
  digits.erase(last + 1);
  const int64_t integer_digits = static_cast<int64_t>(digits.size()) + exponent;
  if (integer_digits > kMaxNumberDigits || -exponent > kMaxNumberDigits) return std::nullopt;

  CtyNumber n;
  n.source_ = Source::kText;
  n.whole_ = exponent >= 0;
  std::string normal = negative ? "-" : "";
  if (exponent >= 0) {
    normal += digits;
    normal.append(static_cast<size_t>(exponent), '0');
  } else if (integer_digits > 0) {
    normal += digits.substr(0, static_cast<size_t>(integer_digits));
    normal += ".";
    normal += digits.substr(static_cast<size_t>(integer_digits));
  } else {
    normal += "0.";
    normal.append(static_cast<size_t>(-integer_digits), '0');
    normal += digits;
  }
  n.text_ = normal;
  if (n.whole_ && integer_digits <= 19) {
    // At most 19 digits: fits unsigned 64-bit; check the signed range.
    uint64_t magnitude = 0;
    for (char c : normal.substr(negative ? 1 : 0)) magnitude = magnitude * 10 + (c - '0');
    const uint64_t limit = negative ? (uint64_t{1} << 63) : (uint64_t{1} << 63) - 1;
    if (magnitude <= limit) {
      n.int64_ = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
    }
  }
  double approx = 0;
  const auto parsed = absl::from_chars(normal.data(), normal.data() + normal.size(), approx);
  if (parsed.ec == std::errc::result_out_of_range) {
    approx = integer_digits > 0 ? std::numeric_limits<double>::infinity() : 0.0;
    if (negative) approx = -approx;
  }
  n.approx_ = approx;
  return n;
}

CtyValue CtyValue::Bool(bool value) {
  CtyValue v;
  v.kind_ = Kind::kBool;
  v.boolean_ = value;
  return v;
}

CtyValue CtyValue::Number(CtyNumber value) {
  CtyValue v;
  v.kind_ = Kind::kNumber;
  v.number_ = std::move(value);
  return v;
}

CtyValue CtyValue::String(absl::string_view value, bool binary) {
  CtyValue v;
  v.kind_ = Kind::kString;
  v.text_ = std::string(value);
  v.binary_ = binary;
  return v;
}

CtyValue CtyValue::List(std::vector<CtyValue> items) {
  CtyValue v;
  v.kind_ = Kind::kList;
  v.items_ = std::move(items);
  return v;
}

CtyValue CtyValue::StringList(const std::vector<std::string>& items) {
  std::vector<CtyValue> values;
  values.reserve(items.size());
  for (const std::string& item : items) values.push_back(String(item));
  return List(std::move(values));
}

CtyValue CtyValue::Map(std::vector<Entry> entries) {
  CtyValue v;
  v.kind_ = Kind::kMap;
  v.entries_ = std::move(entries);
  return v;
}

const CtyValue* CtyValue::Find(absl::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.first == key) return &entry.second;
  }
  return nullptr;
}

std::string QuoteForMessage(absl::string_view text) {
  constexpr size_t kLimit = 80;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kLimit; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f) {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (text.size() > kLimit) out += "...";
  out += "\"";
  return out;
}

std::string DescribeValue(const CtyValue& value) {
  switch (value.kind()) {
    case CtyValue::Kind::kNull:
      return "null";
    case CtyValue::Kind::kBool:
      return value.boolean() ? "bool true" : "bool false";
    case CtyValue::Kind::kNumber: {
      const std::string& text = value.number().text();
      if (text.size() <= 40) return absl::StrCat("number ", text);
      return absl::StrCat("number ", text.substr(0, 40), "...");
    }
    case CtyValue::Kind::kString:
      return absl::StrCat("string ", QuoteForMessage(value.string()));
    case CtyValue::Kind::kList: {
      const size_t n = value.items().size();
      return absl::StrCat("a list of ", n, n == 1 ? " item" : " items");
    }
    case CtyValue::Kind::kMap: {
      if (value.entries().empty()) return "an empty map";
      std::vector<std::string> keys;
      for (const auto& entry : value.entries()) {
        if (keys.size() == 5) {
          keys.push_back("...");
          break;
        }
        keys.push_back(QuoteForMessage(entry.first));
      }
      return absl::StrCat("a map with keys ", absl::StrJoin(keys, ", "));
    }
  }
  return "a value";
}

}  // namespace carp_exec::config
