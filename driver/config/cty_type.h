#pragma once
// cty types, as far as config decoding needs them: parsed from HCL type expressions in our
// schemas ("list(string)") and from the type JSON go-cty puts in dynamic values
// (["list","string"]), and used to check and unwrap values of type `any`.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "driver/config/cty_value.h"

namespace carp_exec::config {

struct CtyType {
  enum class Kind { kString, kNumber, kBool, kDynamic, kList, kSet, kMap, kObject, kTuple };
  Kind kind = Kind::kDynamic;
  // list/set/map: the element type; tuple: one per item; object: one per attribute.
  std::vector<CtyType> elements;
  std::vector<std::string> names;  // object: attribute names, sorted, parallel to elements
};

// Parses go-cty's type JSON: "string", "number", "bool", "dynamic", ["list",T], ["set",T],
// ["map",T], ["object",{"name":T,...}] (an optional third element, the optional-attribute
// list, is accepted and ignored), ["tuple",[T,...]]. Nesting is limited to kMaxCtyDepth.
absl::StatusOr<CtyType> ParseCtyTypeJson(absl::string_view json);

// Parses the HCL type expressions our schemas use: string, number, bool, any, list(T),
// set(T), map(T).
absl::StatusOr<CtyType> ParseHclTypeExpression(absl::string_view expression);

// go-cty's type JSON for `type` (the inverse of ParseCtyTypeJson).
std::string CtyTypeJson(const CtyType& type);

// Checks `value` against `type` and returns it with cty's wire quirks resolved: numbers sent
// as text become numbers, dynamic wrappers ([bin(type JSON), value]) are unwrapped. Null is
// accepted everywhere. `path` names the value in errors; `depth` guards recursion.
absl::StatusOr<CtyValue> ConformValue(const CtyValue& value, const CtyType& type,
                                      absl::string_view path, int depth);

// The unwrapping step for type `any` (see cty_msgpack.h's UnwrapDynamic).
absl::StatusOr<CtyValue> UnwrapDynamicValue(const CtyValue& wrapped, absl::string_view path,
                                            int depth);

}  // namespace carp_exec::config
