#pragma once
// One table per config struct declares each option once: its name, HCL type, default and
// how its value lands in the struct. The hclspec schema Nomad receives and the decoder that
// reads Nomad's msgpack are both derived from that table, so they cannot drift apart.
//
//   const FieldTable<ReadyCheck>& ReadyTable() {
//     static const auto* table = new FieldTable<ReadyCheck>({
//         DurationField("interval", &ReadyCheck::interval).Default("250ms"), ...});
//     return *table;
//   }
//
// Defaults are cty values: rendered as the HCL Literal in the schema, and fed through the
// same conversion as a wire value when Nomad sends null (or no config at all).

#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "driver/config/cty_value.h"
#include "driver/config/hclspec_builder.h"

namespace carp_exec::config {

// Names a value for messages: object "plugin config", path "failover.demote_by".
struct FieldPath {
  std::string object;
  std::string path;

  FieldPath Child(absl::string_view name) const;
  FieldPath Item(size_t index) const;
  // The option's own name, the last part of the path ("demote_by").
  absl::string_view Name() const;
  // "<object>: <path> <message>".
  absl::Status Error(absl::string_view message) const;
  // "<object>: <path> must be <expectation>, got <value described>[; <fix>]".
  absl::Status MustBe(absl::string_view expectation, const CtyValue& got,
                      absl::string_view fix = "") const;
  // "<object>: <path>: <message>" for a parser's self-describing message.
  absl::Status Wrap(const absl::Status& parser_error) const;
};

// Conversions shared by the field kinds; `value` is never null here.
absl::StatusOr<std::string> ReadString(const CtyValue& value, const FieldPath& path);
absl::StatusOr<bool> ReadBool(const CtyValue& value, const FieldPath& path);
// Accepts numbers in every wire form, including decimal text.
absl::StatusOr<int64_t> ReadWholeNumber(const CtyValue& value, const FieldPath& path, int64_t min,
                                        int64_t max);
absl::Status WholeNumberRangeError(const FieldPath& path, absl::string_view got, int64_t min,
                                   int64_t max);
absl::StatusOr<std::vector<std::string>> ReadStringList(const CtyValue& value,
                                                        const FieldPath& path);
absl::StatusOr<absl::Duration> ReadDuration(const CtyValue& value, const FieldPath& path);

template <typename S>
struct Field {
  using Assign = std::function<absl::Status(const CtyValue& value, const FieldPath& path, S& out)>;

  std::string name;
  std::string hcl_type;  // empty for blocks
  bool required = false;
  std::optional<CtyValue> default_value;
  // Stores a non-null value; null values leave the member value-initialised.
  Assign assign;
  Assign clear;
  std::function<hclspec::Spec()> nested_schema;  // blocks only

  Field Default(CtyValue value) && {
    default_value = std::move(value);
    return std::move(*this);
  }
  Field Default(const char* text) && { return std::move(*this).Default(CtyValue::String(text)); }
  Field Default(bool value) && { return std::move(*this).Default(CtyValue::Bool(value)); }
  Field Default(int value) && { return std::move(*this).Default(CtyValue::Int(value)); }
  Field Required() && {
    required = true;
    return std::move(*this);
  }
};

template <typename S>
class FieldTable {
 public:
  // Cross-field checks, run after every field is set; `path` names the struct itself.
  using Validator = std::function<absl::Status(S& out, const FieldPath& path)>;

  explicit FieldTable(std::vector<Field<S>> fields, Validator validate = nullptr)
      : fields_(std::move(fields)), validate_(std::move(validate)) {}

  const std::vector<Field<S>>& fields() const { return fields_; }

  // The hclspec Object Nomad decodes user config with.
  hclspec::Spec Schema() const {
    std::vector<std::pair<std::string, hclspec::Spec>> attributes;
    for (const Field<S>& field : fields_) {
      hclspec::Spec spec;
      if (field.nested_schema) {
        spec = BlockSpec(field.name, field.required, field.nested_schema());
      } else {
        spec = AttrSpec(field.name, field.hcl_type, field.required);
        if (field.default_value.has_value()) {
          spec = DefaultSpec(std::move(spec), LiteralSpec(HclLiteral(*field.default_value)));
        }
      }
      attributes.emplace_back(field.name, std::move(spec));
    }
    return ObjectSpec(std::move(attributes));
  }

  // Fills `out` from a cty object (a map); null means "nothing given": all defaults.
  absl::Status Decode(const CtyValue& object, const FieldPath& path, S& out) const {
    static const CtyValue kEmpty = CtyValue::Map({});
    const CtyValue& source = object.is_null() ? kEmpty : object;
    if (source.kind() != CtyValue::Kind::kMap) {
      return path.MustBe("a block of options", source);
    }
    for (const auto& entry : source.entries()) {
      if (FindField(entry.first) == nullptr) return UnknownOption(entry.first, path);
    }
    for (const Field<S>& field : fields_) {
      const FieldPath child = path.Child(field.name);
      const CtyValue* given = source.Find(field.name);
      const CtyValue* value = given != nullptr && !given->is_null() ? given : nullptr;
      if (value == nullptr && field.default_value.has_value()) value = &*field.default_value;
      if (value == nullptr) {
        if (field.required) return RequiredError(field, child);
        if (absl::Status status = field.clear(CtyValue(), child, out); !status.ok()) return status;
        continue;
      }
      if (absl::Status status = field.assign(*value, child, out); !status.ok()) return status;
    }
    if (validate_) return validate_(out, path);
    return absl::OkStatus();
  }

 private:
  const Field<S>* FindField(absl::string_view name) const {
    for (const Field<S>& field : fields_) {
      if (field.name == name) return &field;
    }
    return nullptr;
  }

  absl::Status UnknownOption(absl::string_view name, const FieldPath& path) const {
    std::string known;
    for (const Field<S>& field : fields_) {
      if (!known.empty()) known += ", ";
      known += field.name;
    }
    return path.Child(name).Error(
        absl::StrCat("is not an option here; remove it or use one of: ", known));
  }

  static absl::Status RequiredError(const Field<S>& field, const FieldPath& path) {
    if (field.nested_schema) {
      return path.Error(absl::StrCat("is required; add a ", field.name, " { ... } block"));
    }
    return path.Error(absl::StrCat("is required; set ", field.name, " = <", field.hcl_type, ">"));
  }

  std::vector<Field<S>> fields_;
  Validator validate_;
};

// Builds a field from a conversion `read` (value → T) stored into `member`.
template <typename S, typename T, typename Read>
Field<S> MakeField(absl::string_view name, absl::string_view hcl_type, T S::*member, Read read) {
  Field<S> field;
  field.name = std::string(name);
  field.hcl_type = std::string(hcl_type);
  field.assign = [member, read](const CtyValue& value, const FieldPath& path, S& out) {
    absl::StatusOr<T> converted = read(value, path);
    if (!converted.ok()) return converted.status();
    out.*member = *std::move(converted);
    return absl::OkStatus();
  };
  field.clear = [member](const CtyValue&, const FieldPath&, S& out) {
    out.*member = T{};
    return absl::OkStatus();
  };
  return field;
}

template <typename S>
Field<S> StringField(absl::string_view name, std::string S::*member) {
  return MakeField<S, std::string>(name, "string", member, &ReadString);
}

// A string option parsed into T; `parse` returns errors that name the text and the fix.
template <typename S, typename T>
Field<S> ParsedField(
    absl::string_view name, T S::*member,
    std::type_identity_t<std::function<absl::StatusOr<T>(absl::string_view)>> parse) {
  return MakeField<S, T>(
      name, "string", member,
      [parse](const CtyValue& value, const FieldPath& path) -> absl::StatusOr<T> {
        absl::StatusOr<std::string> text = ReadString(value, path);
        if (!text.ok()) return text.status();
        absl::StatusOr<T> parsed = parse(*text);
        if (!parsed.ok()) return path.Wrap(parsed.status());
        return parsed;
      });
}

template <typename S>
Field<S> BoolField(absl::string_view name, bool S::*member) {
  return MakeField<S, bool>(name, "bool", member, &ReadBool);
}

template <typename S, typename Int>
Field<S> WholeNumberField(absl::string_view name, Int S::*member, int64_t min, int64_t max) {
  return MakeField<S, Int>(
      name, "number", member,
      [min, max](const CtyValue& value, const FieldPath& path) -> absl::StatusOr<Int> {
        absl::StatusOr<int64_t> n = ReadWholeNumber(value, path, min, max);
        if (!n.ok()) return n.status();
        return static_cast<Int>(*n);
      });
}

// A whole-number option whose bounds depend on options declared before it in the table
// (fields are decoded in table order), e.g. demote_by's limit per failover backend.
template <typename S, typename Int>
Field<S> WholeNumberField(
    absl::string_view name, Int S::*member,
    std::type_identity_t<std::function<std::pair<int64_t, int64_t>(const S& earlier_fields)>>
        range) {
  Field<S> field = WholeNumberField(name, member, 0, 0);
  field.assign = [member, range](const CtyValue& value, const FieldPath& path, S& out) {
    const auto [min, max] = range(out);
    absl::StatusOr<int64_t> n = ReadWholeNumber(value, path, min, max);
    if (!n.ok()) return n.status();
    out.*member = static_cast<Int>(*n);
    return absl::OkStatus();
  };
  return field;
}

template <typename S>
Field<S> StringListField(absl::string_view name, std::vector<std::string> S::*member) {
  return MakeField<S, std::vector<std::string>>(name, "list(string)", member, &ReadStringList);
}

// A list(string) option whose items are each parsed into T.
template <typename S, typename T>
Field<S> ParsedListField(
    absl::string_view name, std::vector<T> S::*member,
    std::type_identity_t<std::function<absl::StatusOr<T>(absl::string_view)>> parse) {
  return MakeField<S, std::vector<T>>(
      name, "list(string)", member,
      [parse](const CtyValue& value, const FieldPath& path) -> absl::StatusOr<std::vector<T>> {
        absl::StatusOr<std::vector<std::string>> texts = ReadStringList(value, path);
        if (!texts.ok()) return texts.status();
        std::vector<T> parsed;
        for (size_t i = 0; i < texts->size(); ++i) {
          absl::StatusOr<T> item = parse((*texts)[i]);
          if (!item.ok()) return path.Item(i).Wrap(item.status());
          parsed.push_back(*std::move(item));
        }
        return parsed;
      });
}

// A Go-syntax duration of zero or more ("250ms").
template <typename S>
Field<S> DurationField(absl::string_view name, absl::Duration S::*member) {
  return MakeField<S, absl::Duration>(name, "string", member, &ReadDuration);
}

// An optional block `name { ... }` decoded by `table`; absent leaves the optional empty.
template <typename S, typename B>
Field<S> BlockField(absl::string_view name, std::optional<B> S::*member,
                    const FieldTable<B>& (*table)()) {
  Field<S> field;
  field.name = std::string(name);
  field.nested_schema = [table] { return table().Schema(); };
  field.assign = [member, table](const CtyValue& value, const FieldPath& path, S& out) {
    if (value.kind() != CtyValue::Kind::kMap) {
      return path.MustBe("a block", value, absl::StrCat("write ", path.Name(), " { ... }"));
    }
    B block{};
    if (absl::Status status = table().Decode(value, path, block); !status.ok()) return status;
    out.*member = std::move(block);
    return absl::OkStatus();
  };
  field.clear = [member](const CtyValue&, const FieldPath&, S& out) {
    out.*member = std::nullopt;
    return absl::OkStatus();
  };
  return field;
}

}  // namespace carp_exec::config
