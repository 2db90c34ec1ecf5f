#pragma once
// Decoding of go-cty msgpack (Nomad's msgpack_config / msgpack_driver_config bytes) into
// a CtyValue tree. Untyped on purpose: the field tables apply types, so this accepts every
// msgpack form go-cty or another encoder may use for a value (any int/uint width, float32/64,
// str or bin), and leaves "number sent as text" to the number fields.
//
// Hostile input is expected (the fuzz target feeds it): nesting deeper than kMaxCtyDepth,
// container sizes larger than the input could hold, truncated or trailing bytes, ext values
// (cty unknowns) and non-string map keys are errors. Nothing here throws.

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "driver/config/cty_value.h"

namespace carp_exec::config {

inline constexpr int kMaxCtyDepth = 64;

// Decodes exactly one msgpack value spanning all of `bytes`. Errors are InvalidArgument
// and name the byte offset and what was wrong; `what` ("plugin config") prefixes them.
absl::StatusOr<CtyValue> DecodeCtyMsgpack(absl::string_view bytes,
                                          absl::string_view what = "cty msgpack");

// Unwraps a value decoded where the schema type is `any` (cty's dynamic pseudo-type):
// go-cty writes a concrete value there as [bin(type JSON), value], and null as nil.
// Returns the inner value after checking it conforms to the type the JSON names
// ("string", ["list","number"], ["object",{"a":"bool"}], ...); null stays null.
// `path` names the field in errors.
absl::StatusOr<CtyValue> UnwrapDynamic(const CtyValue& wrapped, absl::string_view path);

}  // namespace carp_exec::config
