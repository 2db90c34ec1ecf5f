#include "tests/host/nomad_config.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "driver/config/cty_encoder.h"
#include "driver/config/cty_type.h"

namespace carp_exec::test_host {
namespace {

using config::CtyValue;

absl::Status SchemaError(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("schema ", path.empty() ? "(root)" : path, ": ", what));
}

std::vector<std::string> SortedKeys(const hclspec::Object& object) {
  std::vector<std::string> keys;
  for (const auto& [key, unused] : object.attributes()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  return keys;
}

absl::Status CheckSpec(const hclspec::Spec& spec, absl::string_view path, bool key_gives_name) {
  auto need_name = [&](const std::string& name) -> absl::Status {
    if (name.empty() && !key_gives_name)
      return SchemaError(path, "name is empty and no key gives one");
    return absl::OkStatus();
  };
  auto check_type = [&](const std::string& type) -> absl::Status {
    absl::StatusOr<config::CtyType> parsed = config::ParseHclTypeExpression(type);
    if (!parsed.ok()) {
      return SchemaError(
          path, absl::StrCat("type \"", type, "\" does not parse: ", parsed.status().message()));
    }
    return absl::OkStatus();
  };
  switch (spec.block_case()) {
    case hclspec::Spec::kObject:
      for (const std::string& key : SortedKeys(spec.object())) {
        if (key.empty()) return SchemaError(path, "object has an empty attribute key");
        absl::Status s =
            CheckSpec(spec.object().attributes().at(key), absl::StrCat(path, ".", key), true);
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    case hclspec::Spec::kArray:
      for (int i = 0; i < spec.array().values_size(); ++i) {
        absl::Status s = CheckSpec(spec.array().values(i), absl::StrCat(path, "[", i, "]"), false);
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    case hclspec::Spec::kAttr:
      if (absl::Status s = need_name(spec.attr().name()); !s.ok()) return s;
      return check_type(spec.attr().type());
    case hclspec::Spec::kBlockValue:
      if (absl::Status s = need_name(spec.block_value().name()); !s.ok()) return s;
      if (!spec.block_value().has_nested()) return SchemaError(path, "block has no nested spec");
      return CheckSpec(spec.block_value().nested(), absl::StrCat(path, "{}"), false);
    case hclspec::Spec::kBlockAttrs:
      if (absl::Status s = need_name(spec.block_attrs().name()); !s.ok()) return s;
      return check_type(spec.block_attrs().type());
    case hclspec::Spec::kBlockList:
      if (absl::Status s = need_name(spec.block_list().name()); !s.ok()) return s;
      if (!spec.block_list().has_nested())
        return SchemaError(path, "block_list has no nested spec");
      return CheckSpec(spec.block_list().nested(), absl::StrCat(path, "[]"), false);
    case hclspec::Spec::kBlockSet:
      if (absl::Status s = need_name(spec.block_set().name()); !s.ok()) return s;
      if (!spec.block_set().has_nested()) return SchemaError(path, "block_set has no nested spec");
      return CheckSpec(spec.block_set().nested(), absl::StrCat(path, "[]"), false);
    case hclspec::Spec::kBlockMap:
      if (absl::Status s = need_name(spec.block_map().name()); !s.ok()) return s;
      if (spec.block_map().labels_size() == 0) return SchemaError(path, "block_map has no labels");
      if (!spec.block_map().has_nested()) return SchemaError(path, "block_map has no nested spec");
      return CheckSpec(spec.block_map().nested(), absl::StrCat(path, "{label}"), false);
    case hclspec::Spec::kDefault:
      if (!spec.default_().has_primary() || !spec.default_().has_default_()) {
        return SchemaError(path, "default needs both primary and default");
      }
      // Default passes no name down: its primary must name itself.
      if (absl::Status s = CheckSpec(spec.default_().primary(), path, false); !s.ok()) return s;
      return CheckSpec(spec.default_().default_(), absl::StrCat(path, "(default)"), false);
    case hclspec::Spec::kLiteral:
      // Nomad evaluates it as an HCL expression; an empty one does not parse.
      if (absl::StripAsciiWhitespace(spec.literal().value()).empty()) {
        return SchemaError(path, "literal has an empty expression");
      }
      return absl::OkStatus();
    case hclspec::Spec::BLOCK_NOT_SET:
      break;
  }
  return SchemaError(path, "Spec has no oneof member set (Nomad fails to convert it)");
}

}  // namespace

absl::Status CheckSpecConverts(const hclspec::Spec& spec) { return CheckSpec(spec, "", false); }

std::string DescribeSchema(const hclspec::Spec& spec) {
  if (spec.block_case() != hclspec::Spec::kObject) return "(not an object schema)";
  std::vector<std::string> names;
  for (const std::string& key : SortedKeys(spec.object())) {
    const hclspec::Spec& attr = spec.object().attributes().at(key);
    const bool required = attr.block_case() == hclspec::Spec::kAttr && attr.attr().required();
    names.push_back(required ? key + "!" : key);
  }
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<std::string> EncodeLikeNomad(const hclspec::Spec& schema, const CtyValue& user) {
  return config::EncodeCtyForSchema(user, schema);
}

absl::StatusOr<std::string> EncodeRaw(const CtyValue& value) {
  return config::EncodeCtyMsgpack(value);
}

}  // namespace carp_exec::test_host
