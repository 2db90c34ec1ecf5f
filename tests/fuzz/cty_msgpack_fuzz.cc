// libFuzzer target: arbitrary bytes through every decoding entry point Nomad's bytes reach
// (SetConfig's msgpack_config, StartTask's msgpack_driver_config), plus the value-level API.
// Crashes, sanitizer reports and broken invariants (below) are failures.

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "driver/config/cty_encoder.h"
#include "driver/config/cty_msgpack.h"
#include "driver/config/hclspec_builder.h"
#include "driver/config/plugin_config.h"
#include "driver/config/task_config.h"

namespace {

using carp_exec::config::CtyValue;

bool HasNonFiniteNumber(const CtyValue& value) {
  switch (value.kind()) {
    case CtyValue::Kind::kNumber:
      return !std::isfinite(value.number().AsDouble()) &&
             value.number().source() == carp_exec::config::CtyNumber::Source::kFloat;
    case CtyValue::Kind::kList:
      for (const CtyValue& item : value.items()) {
        if (HasNonFiniteNumber(item)) return true;
      }
      return false;
    case CtyValue::Kind::kMap:
      for (const auto& entry : value.entries()) {
        if (HasNonFiniteNumber(entry.second)) return true;
      }
      return false;
    default:
      return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace carp_exec::config;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);

  (void)DecodePluginConfig(bytes);
  (void)DecodeTaskConfig(bytes);

  absl::StatusOr<CtyValue> value = DecodeCtyMsgpack(bytes);
  if (!value.ok()) return 0;
  (void)UnwrapDynamic(*value, "fuzz");
  (void)DescribeValue(*value);
  (void)HclLiteral(*value);

  // Invariant: whatever decodes re-encodes (go-cty style) and decodes again; only NaN has no
  // cty encoding.
  absl::StatusOr<std::string> again = EncodeCtyMsgpack(*value);
  if (!again.ok()) {
    if (!HasNonFiniteNumber(*value)) __builtin_trap();
    return 0;
  }
  if (!DecodeCtyMsgpack(*again).ok()) __builtin_trap();
  return 0;
}
