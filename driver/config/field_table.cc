#include "driver/config/field_table.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "driver/config/go_duration.h"

namespace carp_exec::config {

FieldPath FieldPath::Child(absl::string_view name) const {
  return FieldPath{object, path.empty() ? std::string(name) : absl::StrCat(path, ".", name)};
}

FieldPath FieldPath::Item(size_t index) const {
  return FieldPath{object, absl::StrCat(path, "[", index, "]")};
}

absl::string_view FieldPath::Name() const {
  absl::string_view name = path;
  const size_t dot = name.rfind('.');
  if (dot != absl::string_view::npos) name.remove_prefix(dot + 1);
  const size_t bracket = name.find('[');
  if (bracket != absl::string_view::npos) name = name.substr(0, bracket);
  return name;
}

absl::Status FieldPath::Error(absl::string_view message) const {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(object, ": ", message));
  return absl::InvalidArgumentError(absl::StrCat(object, ": ", path, " ", message));
}

absl::Status FieldPath::MustBe(absl::string_view expectation, const CtyValue& got,
                               absl::string_view fix) const {
  return Error(absl::StrCat("must be ", expectation, ", got ", DescribeValue(got),
                            fix.empty() ? "" : "; ", fix));
}

absl::Status FieldPath::Wrap(const absl::Status& parser_error) const {
  return absl::InvalidArgumentError(absl::StrCat(object, ": ", path, ": ", parser_error.message()));
}

absl::StatusOr<std::string> ReadString(const CtyValue& value, const FieldPath& path) {
  if (value.kind() != CtyValue::Kind::kString) {
    return path.MustBe("a string", value, absl::StrCat("write ", path.Name(), " = \"...\""));
  }
  return value.string();
}

absl::StatusOr<bool> ReadBool(const CtyValue& value, const FieldPath& path) {
  if (value.kind() != CtyValue::Kind::kBool) {
    return path.MustBe("true or false", value,
                       absl::StrCat("write ", path.Name(), " = true (without quotes)"));
  }
  return value.boolean();
}

absl::Status WholeNumberRangeError(const FieldPath& path, absl::string_view got, int64_t min,
                                   int64_t max) {
  if (max == std::numeric_limits<int64_t>::max()) {
    return path.Error(absl::StrCat("must be a whole number of ", min, " or more, got ", got));
  }
  return path.Error(absl::StrCat("must be a whole number from ", min, " to ", max, ", got ", got));
}

absl::StatusOr<int64_t> ReadWholeNumber(const CtyValue& value, const FieldPath& path, int64_t min,
                                        int64_t max) {
  std::optional<CtyNumber> number;
  if (value.kind() == CtyValue::Kind::kNumber) {
    number = value.number();
  } else if (value.kind() == CtyValue::Kind::kString) {
    // go-cty sends numbers it cannot hold as int64 or float64 as decimal text.
    number = CtyNumber::FromText(value.string());
  }
  if (!number.has_value()) {
    if (max == std::numeric_limits<int64_t>::max()) {
      return path.MustBe(absl::StrCat("a whole number of ", min, " or more"), value);
    }
    return path.MustBe(absl::StrCat("a whole number from ", min, " to ", max), value);
  }
  const std::string& text = number->text();
  const absl::string_view shown = text.size() > 40 ? absl::string_view(text).substr(0, 40) : text;
  std::optional<int64_t> whole = number->AsInt64();
  if (!whole.has_value() || *whole < min || *whole > max) {
    return WholeNumberRangeError(path, text.size() > 40 ? absl::StrCat(shown, "...") : text, min,
                                 max);
  }
  return *whole;
}

absl::StatusOr<std::vector<std::string>> ReadStringList(const CtyValue& value,
                                                        const FieldPath& path) {
  if (value.kind() != CtyValue::Kind::kList) {
    return path.MustBe("a list of strings", value,
                       absl::StrCat("write ", path.Name(), " = [\"...\"]"));
  }
  std::vector<std::string> out;
  out.reserve(value.items().size());
  for (size_t i = 0; i < value.items().size(); ++i) {
    const CtyValue& item = value.items()[i];
    if (item.kind() != CtyValue::Kind::kString) {
      return path.Item(i).MustBe("a string", item, "every item of the list must be quoted text");
    }
    out.push_back(item.string());
  }
  return out;
}

absl::StatusOr<absl::Duration> ReadDuration(const CtyValue& value, const FieldPath& path) {
  if (value.kind() != CtyValue::Kind::kString) {
    return path.MustBe("a duration string", value,
                       absl::StrCat("write ", path.Name(), " = \"250ms\" or \"1m30s\""));
  }
  absl::StatusOr<absl::Duration> duration = ParseGoDuration(value.string());
  if (!duration.ok()) return path.Wrap(duration.status());
  if (*duration < absl::ZeroDuration()) {
    return path.Error(absl::StrCat("must be 0s or more, got ", QuoteForMessage(value.string())));
  }
  return duration;
}

}  // namespace carp_exec::config
