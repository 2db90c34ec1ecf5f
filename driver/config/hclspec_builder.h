#pragma once
// Builders for Nomad's hclspec messages (the schema a plugin returns from ConfigSchema and
// TaskConfigSchema), and the HCL literal syntax their defaults are written in.
//
// Rules from Nomad's side that these follow: an Attr inside a Default must carry its own
// name (Default passes none down); a Literal holds an HCL *expression*, so strings are quoted.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "driver/config/cty_value.h"
#include "nomad/hclspec.pb.h"

namespace carp_exec::config {

namespace hclspec = ::hashicorp::nomad::plugins::shared::hclspec;

hclspec::Spec AttrSpec(absl::string_view name, absl::string_view hcl_type, bool required);
hclspec::Spec LiteralSpec(absl::string_view hcl_expression);
// `primary`, or `fallback` when the primary decodes to null.
hclspec::Spec DefaultSpec(hclspec::Spec primary, hclspec::Spec fallback);
// A block that may appear at most once; absent decodes to null.
hclspec::Spec BlockSpec(absl::string_view name, bool required, hclspec::Spec nested);
hclspec::Spec ObjectSpec(std::vector<std::pair<std::string, hclspec::Spec>> attributes);

// The HCL expression for a value: null, true, 50, 0.5, "text" (escaped, with ${ and %{
// doubled so HCL reads them literally), ["a", "b"], { "k" = "v" }.
std::string HclLiteral(const CtyValue& value);

// Reads back what HclLiteral writes (plus whitespace). The test encoder uses it to apply
// schema defaults the way Nomad does; it is not a general HCL parser.
absl::StatusOr<CtyValue> ParseHclLiteral(absl::string_view expression);

}  // namespace carp_exec::config
