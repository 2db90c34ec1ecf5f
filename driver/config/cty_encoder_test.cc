#include "driver/config/cty_encoder.h"

#include <cmath>
#include <limits>

#include "driver/config/cty_msgpack.h"
#include "driver/config/hex_for_tests.h"
#include "driver/config/plugin_config.h"
#include "driver/config/task_config.h"
#include "gtest/gtest.h"

namespace carp_exec::config {
namespace {

using V = CtyValue;

CtyValue Text(absl::string_view number) { return V::Number(*CtyNumber::FromText(number)); }

std::string Encode(const CtyValue& value) {
  absl::StatusOr<std::string> bytes = EncodeCtyMsgpack(value);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? HexFromBytes(*bytes) : "";
}

// Reference §4 example 1: string, list(string), bool, number.
TEST(CtyEncoderTest, ReferenceExampleOne) {
  const char* kExpected =
      "84 a4 61 72 67 73 91 a2 2d 76 a7 63 6f 6d 6d 61 6e 64 a8 2f 62 69 6e 2f 61 70 70 a7 70 72 "
      "65 65 6d 70 74 c3 a4 76 72 69 64 33";
  CtyType type = *ParseCtyTypeJson(
      R"(["object",{"command":"string","args":["list","string"],"preempt":"bool","vrid":"number"}])");
  const CtyValue value = V::Map({{"command", V::String("/bin/app")},
                                 {"args", V::StringList({"-v"})},
                                 {"preempt", V::Bool(true)},
                                 {"vrid", V::Int(51)}});
  absl::StatusOr<std::string> bytes = EncodeCtyMsgpackAs(value, type);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(HexFromBytes(*bytes), kExpected);
  EXPECT_EQ(bytes->size(), 42u);
  EXPECT_EQ(Encode(value), kExpected);  // the implied type gives the same bytes

  absl::StatusOr<CtyValue> decoded = DecodeCtyMsgpack(BytesFromHex(kExpected));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->Find("command")->string(), "/bin/app");
  EXPECT_EQ(decoded->Find("args")->items()[0].string(), "-v");
  EXPECT_TRUE(decoded->Find("preempt")->boolean());
  EXPECT_EQ(decoded->Find("vrid")->number().AsInt64(), 51);
}

// Example 2: absent attribute, float64, a decimal float64 can't hold, a negative int16,
// an integer beyond int64 (text even though float64 holds 2^64 exactly).
TEST(CtyEncoderTest, ReferenceExampleTwo) {
  const char* kExpected =
      "86 aa 61 64 76 65 72 74 5f 69 6e 74 cb 3f f8 00 00 00 00 00 00 a4 61 72 67 73 c0 a3 62 69 "
      "67 b4 31 38 34 34 36 37 34 34 30 37 33 37 30 39 35 35 31 36 31 36 a7 63 6f 6d 6d 61 6e 64 "
      "a1 78 a7 74 69 6d 65 6f 75 74 a3 30 2e 31 a6 77 65 69 67 68 74 d1 ff 38";
  CtyType type = *ParseCtyTypeJson(
      R"(["object",{"command":"string","args":["list","string"],"advert_int":"number",)"
      R"("timeout":"number","weight":"number","big":"number"}])");
  const CtyValue value = V::Map({{"command", V::String("x")},
                                 {"advert_int", V::Double(1.5)},
                                 {"timeout", Text("0.1")},
                                 {"weight", V::Int(-200)},
                                 {"big", Text("18446744073709551616")}});
  absl::StatusOr<std::string> bytes = EncodeCtyMsgpackAs(value, type);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(HexFromBytes(*bytes), kExpected);
  EXPECT_EQ(bytes->size(), 84u);

  absl::StatusOr<CtyValue> decoded = DecodeCtyMsgpack(BytesFromHex(kExpected));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->Find("args")->is_null());
  EXPECT_EQ(decoded->Find("advert_int")->number().AsDouble(), 1.5);
  EXPECT_EQ(decoded->Find("timeout")->string(), "0.1");  // numbers-as-text stay text until typed
  EXPECT_EQ(decoded->Find("big")->string(), "18446744073709551616");
  EXPECT_EQ(decoded->Find("weight")->number().AsInt64(), -200);
}

// Example 3: a plugin schema with a map attribute, a block list, an absent block and a block.
TEST(CtyEncoderTest, ReferenceExampleThreeThroughASchema) {
  const char* kExpected =
      "85 a7 65 6e 61 62 6c 65 64 c3 a6 6c 61 62 65 6c 73 82 a1 61 a1 31 a1 62 a1 32 a5 70 65 65 "
      "72 73 91 82 a4 61 64 64 72 a8 31 30 2e 30 2e 30 2e 32 a4 70 6f 72 74 70 a3 74 6c 73 c0 a4 "
      "76 72 72 70 82 a9 69 6e 74 65 72 66 61 63 65 a4 65 74 68 30 a4 76 72 69 64 33";
  hclspec::Spec peers;
  peers.mutable_block_list()->set_name("peers");
  *peers.mutable_block_list()->mutable_nested() = ObjectSpec(
      {{"addr", AttrSpec("addr", "string", true)}, {"port", AttrSpec("port", "number", false)}});
  const hclspec::Spec spec = ObjectSpec({
      {"enabled", DefaultSpec(AttrSpec("enabled", "bool", false), LiteralSpec("true"))},
      {"labels", AttrSpec("labels", "map(string)", false)},
      {"peers", peers},
      {"tls", BlockSpec("tls", false, ObjectSpec({{"ca", AttrSpec("ca", "string", false)}}))},
      {"vrrp", BlockSpec("vrrp", false,
                         ObjectSpec({{"interface", AttrSpec("interface", "string", true)},
                                     {"vrid", AttrSpec("vrid", "number", false)}}))},
  });
  const CtyValue value = V::Map({
      {"labels", V::Map({{"b", V::String("2")}, {"a", V::String("1")}})},
      {"peers", V::List({V::Map({{"addr", V::String("10.0.0.2")}, {"port", V::Int(112)}})})},
      {"vrrp", V::Map({{"interface", V::String("eth0")}, {"vrid", V::Int(51)}})},
  });  // enabled comes from the Default literal, tls is absent
  absl::StatusOr<std::string> bytes = EncodeCtyForSchema(value, spec);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(HexFromBytes(*bytes), kExpected);
  EXPECT_EQ(bytes->size(), 86u);

  // Absent block list and block map.
  hclspec::Spec map_spec;
  map_spec.mutable_block_map()->set_name("m");
  map_spec.mutable_block_map()->add_labels("name");
  *map_spec.mutable_block_map()->mutable_nested() = ObjectSpec({});
  const hclspec::Spec lists = ObjectSpec({{"l", peers}, {"m", map_spec}});
  EXPECT_EQ(HexFromBytes(*EncodeCtyForSchema(V::Map({}), lists)), "82 a1 6c 90 a1 6d 80");

  absl::StatusOr<CtyValue> decoded = DecodeCtyMsgpack(BytesFromHex(kExpected));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->Find("tls")->is_null());
  EXPECT_EQ(decoded->Find("peers")->items()[0].Find("port")->number().AsInt64(), 112);
}

TEST(CtyEncoderTest, DynamicStringMatchesReference) {
  absl::StatusOr<std::string> bytes = EncodeCtyDynamic(V::String("hi"));
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(HexFromBytes(*bytes), "92 c4 08 22 73 74 72 69 6e 67 22 a2 68 69");
  EXPECT_EQ(HexFromBytes(*EncodeCtyDynamic(V::Null())), "c0");
  absl::StatusOr<CtyValue> decoded = DecodeCtyMsgpack(*bytes);
  ASSERT_TRUE(decoded.ok());
  absl::StatusOr<CtyValue> inner = UnwrapDynamic(*decoded, "x");
  ASSERT_TRUE(inner.ok()) << inner.status();
  EXPECT_EQ(inner->string(), "hi");
}

TEST(CtyEncoderTest, IntegersUseTheSmallestForm) {
  EXPECT_EQ(Encode(V::Int(0)), "00");
  EXPECT_EQ(Encode(V::Int(127)), "7f");
  EXPECT_EQ(Encode(V::Int(128)), "cc 80");
  EXPECT_EQ(Encode(V::Int(256)), "cd 01 00");
  EXPECT_EQ(Encode(V::Int(65536)), "ce 00 01 00 00");
  EXPECT_EQ(Encode(V::Int(4294967296)), "cf 00 00 00 01 00 00 00 00");
  EXPECT_EQ(Encode(V::Int(-1)), "ff");
  EXPECT_EQ(Encode(V::Int(-32)), "e0");
  EXPECT_EQ(Encode(V::Int(-33)), "d0 df");
  EXPECT_EQ(Encode(V::Int(-129)), "d1 ff 7f");
  EXPECT_EQ(Encode(V::Int(-32769)), "d2 ff ff 7f ff");
  EXPECT_EQ(Encode(V::Int(std::numeric_limits<int64_t>::min())), "d3 80 00 00 00 00 00 00 00");
  // Whole floats are integers to cty.
  EXPECT_EQ(Encode(V::Double(3.0)), "03");
  EXPECT_EQ(Encode(V::Number(CtyNumber::Unsigned(18446744073709551615ULL))),
            "b4 31 38 34 34 36 37 34 34 30 37 33 37 30 39 35 35 31 36 31 35");
}

TEST(CtyEncoderTest, NonIntegersAreFloat64OrText) {
  EXPECT_EQ(Encode(Text("0.5")), "cb 3f e0 00 00 00 00 00 00");
  EXPECT_EQ(Encode(Text("2.50")), "cb 40 04 00 00 00 00 00 00");
  EXPECT_EQ(Encode(Text("1e2")), "64");
  EXPECT_EQ(Encode(Text("0.3")), "a3 30 2e 33");
  EXPECT_EQ(Encode(V::Double(std::numeric_limits<double>::infinity())),
            "cb 7f f0 00 00 00 00 00 00");
  EXPECT_FALSE(EncodeCtyMsgpack(V::Double(std::nan(""))).ok());
}

TEST(CtyEncoderTest, StringSizes) {
  EXPECT_EQ(Encode(V::String("")), "a0");
  EXPECT_EQ(Encode(V::String(std::string(31, 'a'))).substr(0, 2), "bf");
  EXPECT_EQ(Encode(V::String(std::string(32, 'a'))).substr(0, 5), "d9 20");
  EXPECT_EQ(Encode(V::String(std::string(256, 'a'))).substr(0, 8), "da 01 00");
  EXPECT_EQ(Encode(V::String(std::string(65536, 'a'))).substr(0, 14), "db 00 01 00 00");
}

TEST(CtyEncoderTest, SchemaEncodingRejectsUnknownOptions) {
  absl::StatusOr<std::string> bytes =
      EncodeCtyForSchema(V::Map({{"nope", V::Bool(true)}}), TaskConfigSchema());
  EXPECT_FALSE(bytes.ok());
}

TEST(CtyEncoderTest, OurSchemasRoundTripWithDefaults) {
  absl::StatusOr<std::string> bytes =
      EncodeCtyForSchema(V::Map({{"command", V::String("/bin/true")},
                                 {"ready", V::Map({{"tcp", V::String("127.0.0.1:1")}})}}),
                         TaskConfigSchema());
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<TaskConfig> task = DecodeTaskConfig(*bytes);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->command, "/bin/true");
  ASSERT_TRUE(task->ready.has_value());
  EXPECT_EQ(task->ready->interval, absl::Milliseconds(250));

  absl::StatusOr<std::string> plugin = EncodeCtyForSchema(V::Null(), PluginConfigSchema());
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  absl::StatusOr<PluginConfig> config = DecodePluginConfig(*plugin);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->enabled);
  EXPECT_FALSE(config->failover.has_value());
}

}  // namespace
}  // namespace carp_exec::config
