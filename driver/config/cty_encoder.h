#pragma once
// Writes cty msgpack byte-for-byte the way go-cty's msgpack.Marshal does, so tests and the
// conformance test host can send exactly what Nomad sends. Not used by the plugin itself.
//
// go-cty's rules, followed here: object keys in bytewise order with every attribute present
// (absent ones nil); integers within int64 in the smallest msgpack int form; other numbers as
// float64 when it holds them exactly and they are not integers, otherwise as their shortest
// decimal text ("0.1", "18446744073709551616"); ±infinity as float64; strings as str8/16/32
// (fixstr below 32 bytes); values of type `any` as [bin(type JSON), value].

#include <string>

#include "absl/status/statusor.h"
#include "driver/config/cty_type.h"
#include "driver/config/cty_value.h"
#include "driver/config/hclspec_builder.h"

namespace carp_exec::config {

// Encodes `value` with the type cty would infer for it: lists as tuples, maps as objects.
// NaN is an error (cty has no NaN).
absl::StatusOr<std::string> EncodeCtyMsgpack(const CtyValue& value);

// Encodes `value` as type `type` (a list(string) attribute, a map(number), ...).
absl::StatusOr<std::string> EncodeCtyMsgpackAs(const CtyValue& value, const CtyType& type);

// Encodes `value` where the declared type is `any`: [bin(type JSON), value], nil for null.
absl::StatusOr<std::string> EncodeCtyDynamic(const CtyValue& value);

// Encodes a config the way Nomad does after decoding HCL with `spec`: `value` is a map of
// option name → value (blocks as maps, block lists as lists of maps, block maps as maps by
// label, null or absent for "not written"). Every attribute is sent; Default literals fill
// nulls; absent block lists/sets become [], absent block maps {}. Options the schema does not
// know are an error, as they are for Nomad.
absl::StatusOr<std::string> EncodeCtyForSchema(const CtyValue& value, const hclspec::Spec& spec);

}  // namespace carp_exec::config
