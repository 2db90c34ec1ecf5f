#include "driver/config/cty_msgpack.h"

#include <cmath>
#include <string>

#include "driver/config/cty_type.h"
#include "driver/config/hex_for_tests.h"
#include "gtest/gtest.h"

namespace carp_exec::config {
namespace {

CtyValue Decode(absl::string_view hex) {
  absl::StatusOr<CtyValue> value = DecodeCtyMsgpack(BytesFromHex(hex));
  EXPECT_TRUE(value.ok()) << hex << ": " << value.status();
  return value.ok() ? *value : CtyValue();
}

std::string DecodeError(absl::string_view bytes) {
  absl::StatusOr<CtyValue> value = DecodeCtyMsgpack(bytes, "plugin config");
  EXPECT_FALSE(value.ok()) << HexFromBytes(bytes);
  return value.ok() ? "" : std::string(value.status().message());
}

TEST(CtyMsgpackTest, EveryIntegerWidth) {
  const std::pair<const char*, int64_t> cases[] = {
      {"05", 5},
      {"cc ff", 255},
      {"cd 01 00", 256},
      {"ce 00 01 00 00", 65536},
      {"cf 00 00 00 01 00 00 00 00", 4294967296},
      {"ff", -1},
      {"d0 80", -128},
      {"d1 ff 38", -200},
      {"d2 80 00 00 00", -2147483648LL},
      {"d3 ff ff ff ff ff ff ff fe", -2},
      {"d0 05", 5},  // signed codes for positive values, as go-msgpack struct encoding sends
  };
  for (const auto& [hex, expected] : cases) {
    CtyValue v = Decode(hex);
    ASSERT_EQ(v.kind(), CtyValue::Kind::kNumber) << hex;
    EXPECT_EQ(v.number().AsInt64(), expected) << hex;
    EXPECT_TRUE(v.number().IsWhole());
  }
}

TEST(CtyMsgpackTest, Uint64BeyondInt64IsWholeButNotInt64) {
  CtyValue v = Decode("cf ff ff ff ff ff ff ff ff");
  EXPECT_TRUE(v.number().IsWhole());
  EXPECT_FALSE(v.number().AsInt64().has_value());
  EXPECT_EQ(v.number().text(), "18446744073709551615");
}

TEST(CtyMsgpackTest, Floats) {
  EXPECT_EQ(Decode("cb 3f f8 00 00 00 00 00 00").number().AsDouble(), 1.5);
  EXPECT_EQ(Decode("ca 3f c0 00 00").number().AsDouble(), 1.5);  // float32
  CtyValue whole = Decode("cb 40 59 00 00 00 00 00 00");         // 100.0
  EXPECT_EQ(whole.number().AsInt64(), 100);
  CtyValue inf = Decode("cb 7f f0 00 00 00 00 00 00");
  EXPECT_TRUE(std::isinf(inf.number().AsDouble()));
  EXPECT_FALSE(inf.number().IsWhole());
  EXPECT_EQ(Decode("cb 3f b9 99 99 99 99 99 9a").number().text(), "0.1");
}

TEST(CtyMsgpackTest, NumbersAsTextBecomeNumbersWhenTyped) {
  CtyType number;
  number.kind = CtyType::Kind::kNumber;
  for (const char* text : {"0.1", "18446744073709551616", "-5", "1e3", "+7"}) {
    absl::StatusOr<CtyValue> v = ConformValue(CtyValue::String(text), number, "n", 0);
    ASSERT_TRUE(v.ok()) << text;
    EXPECT_EQ(v->kind(), CtyValue::Kind::kNumber);
  }
  EXPECT_EQ(CtyNumber::FromText("1e3")->AsInt64(), 1000);
  EXPECT_EQ(CtyNumber::FromText("-0.50")->text(), "-0.5");
  EXPECT_EQ(CtyNumber::FromText("0.001")->text(), "0.001");
  EXPECT_EQ(CtyNumber::FromText("-9223372036854775808")->AsInt64(),
            std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(CtyNumber::FromText("9223372036854775808")->AsInt64().has_value());
  EXPECT_FALSE(CtyNumber::FromText("1e999999").has_value());
  EXPECT_FALSE(CtyNumber::FromText("abc").has_value());
  EXPECT_FALSE(CtyNumber::FromText("1.2.3").has_value());
  EXPECT_FALSE(CtyNumber::FromText("").has_value());
  absl::StatusOr<CtyValue> bad = ConformValue(CtyValue::String("ten"), number, "x.n", 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "x.n must be a number, got string \"ten\"");
}

TEST(CtyMsgpackTest, StringsAsStrOrBin) {
  EXPECT_EQ(Decode("a3 61 62 63").string(), "abc");
  EXPECT_EQ(Decode("d9 03 61 62 63").string(), "abc");
  EXPECT_EQ(Decode("da 00 03 61 62 63").string(), "abc");
  EXPECT_EQ(Decode("db 00 00 00 03 61 62 63").string(), "abc");
  CtyValue bin = Decode("c4 03 61 62 63");
  EXPECT_EQ(bin.string(), "abc");
  EXPECT_TRUE(bin.is_binary());
}

TEST(CtyMsgpackTest, NullsBoolsListsMaps) {
  EXPECT_TRUE(Decode("c0").is_null());
  EXPECT_TRUE(Decode("c3").boolean());
  EXPECT_FALSE(Decode("c2").boolean());
  CtyValue list = Decode("93 01 c0 a1 78");
  ASSERT_EQ(list.items().size(), 3u);
  EXPECT_TRUE(list.items()[1].is_null());
  CtyValue map = Decode("82 a1 61 91 c3 a1 62 81 a1 63 c0");
  EXPECT_TRUE(map.Find("a")->items()[0].boolean());
  EXPECT_TRUE(map.Find("b")->Find("c")->is_null());
  EXPECT_EQ(map.Find("zz"), nullptr);
  EXPECT_EQ(Decode("dc 00 00").items().size(), 0u);
  EXPECT_EQ(Decode("de 00 00").entries().size(), 0u);
  CtyValue bin_key = Decode("81 c4 01 6b 01");
  EXPECT_EQ(bin_key.Find("k")->number().AsInt64(), 1);
}

TEST(CtyMsgpackTest, UnknownValuesAreErrors) {
  EXPECT_EQ(DecodeError(BytesFromHex("d4 00 00")),
            "plugin config: the top-level value is an unknown value (msgpack ext type 0); Nomad "
            "sends only known values, so check the encoder");
  EXPECT_EQ(DecodeError(BytesFromHex("81 a3 76 69 70 91 c7 01 0c 80")),
            "plugin config: vip[0] is an unknown value (msgpack ext type 12); Nomad sends only "
            "known values, so check the encoder");
}

TEST(CtyMsgpackTest, DepthIsBounded) {
  std::string ok(kMaxCtyDepth, '\x91');
  ok.push_back('\xc0');
  EXPECT_TRUE(DecodeCtyMsgpack(ok).ok());
  std::string deep(kMaxCtyDepth + 1, '\x91');
  deep.push_back('\xc0');
  EXPECT_NE(DecodeError(deep).find("nested deeper than 64 levels"), std::string::npos);
  std::string very_deep(100000, '\x91');
  EXPECT_FALSE(DecodeCtyMsgpack(very_deep).ok());
}

TEST(CtyMsgpackTest, SizesBeyondTheInputAreRejected) {
  EXPECT_EQ(DecodeError(BytesFromHex("dd ff ff ff ff")),
            "plugin config: the top-level value claims a list of 4294967295 entries, more than "
            "the 5-byte input can hold");
  EXPECT_NE(DecodeError(BytesFromHex("df 00 01 00 00 c0")).find("claims a map"), std::string::npos);
  EXPECT_NE(DecodeError(BytesFromHex("db ff ff ff ff 61")).find("truncated"), std::string::npos);
  EXPECT_NE(DecodeError(BytesFromHex("c6 ff ff ff ff")).find("truncated"), std::string::npos);
}

TEST(CtyMsgpackTest, MalformedInput) {
  EXPECT_EQ(DecodeError(""), "plugin config: no bytes; expected one msgpack value");
  EXPECT_NE(DecodeError(BytesFromHex("c1")).find("invalid msgpack"), std::string::npos);
  EXPECT_NE(DecodeError(BytesFromHex("92 01")).find("truncated"), std::string::npos);
  EXPECT_NE(DecodeError(BytesFromHex("01 02")).find("1 trailing bytes"), std::string::npos);
  EXPECT_NE(DecodeError(BytesFromHex("81 01 02")).find("cty map and object keys are strings"),
            std::string::npos);
  EXPECT_NE(DecodeError(BytesFromHex("81 91 01 02")).find("keys are strings"), std::string::npos);
  EXPECT_EQ(DecodeError(BytesFromHex("82 a1 61 01 a1 61 02")),
            "plugin config: the top-level value has the key \"a\" twice; each key may appear once");
  EXPECT_NE(DecodeError(std::string(2 << 20, '\xc0')).find("limit"), std::string::npos);
}

TEST(CtyMsgpackTest, DynamicValuesUnwrap) {
  // ["list","string"] wrapping ["a","b"].
  CtyValue wrapped =
      Decode("92 c4 11 5b 22 6c 69 73 74 22 2c 22 73 74 72 69 6e 67 22 5d 92 a1 61 a1 62");
  absl::StatusOr<CtyValue> inner = UnwrapDynamic(wrapped, "extra");
  ASSERT_TRUE(inner.ok()) << inner.status();
  EXPECT_EQ(inner->items()[1].string(), "b");

  // Type JSON as str rather than bin is accepted too; numbers as text are converted.
  absl::StatusOr<CtyValue> number =
      UnwrapDynamic(CtyValue::List({CtyValue::String("\"number\""), CtyValue::String("0.1")}), "n");
  ASSERT_TRUE(number.ok());
  EXPECT_EQ(number->kind(), CtyValue::Kind::kNumber);

  absl::StatusOr<CtyValue> object = UnwrapDynamic(
      CtyValue::List({CtyValue::String(R"(["object",{"a":"bool","b":["tuple",["string"]]}])"),
                      CtyValue::Map({{"a", CtyValue::Bool(true)},
                                     {"b", CtyValue::List({CtyValue::String("x")})}})}),
      "o");
  ASSERT_TRUE(object.ok()) << object.status();

  EXPECT_TRUE(UnwrapDynamic(CtyValue(), "n")->is_null());
  absl::StatusOr<CtyValue> mismatch =
      UnwrapDynamic(CtyValue::List({CtyValue::String("\"bool\""), CtyValue::Int(1)}), "extra");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().message(), "extra must be a bool, got number 1");
  absl::StatusOr<CtyValue> not_wrapped = UnwrapDynamic(CtyValue::String("hi"), "extra");
  ASSERT_FALSE(not_wrapped.ok());
  EXPECT_EQ(not_wrapped.status().message(),
            "extra must be a dynamic value [type JSON, value] because its type is any, got string "
            "\"hi\"");
  EXPECT_FALSE(
      UnwrapDynamic(CtyValue::List({CtyValue::String("[\"list\""), CtyValue()}), "x").ok());
  EXPECT_FALSE(
      UnwrapDynamic(CtyValue::List({CtyValue::String("\"float\""), CtyValue()}), "x").ok());
}

TEST(CtyMsgpackTest, TypeJsonRoundTrips) {
  for (const char* json :
       {R"("string")", R"(["list",["map","number"]])",
        R"(["object",{"a":"bool","b":["set","string"]}])", R"(["tuple",["string","dynamic"]])"}) {
    absl::StatusOr<CtyType> type = ParseCtyTypeJson(json);
    ASSERT_TRUE(type.ok()) << json << type.status();
    EXPECT_EQ(CtyTypeJson(*type), json);
  }
  EXPECT_TRUE(ParseCtyTypeJson(R"(["object",{"a":"bool"},["a"]])").ok());
  EXPECT_EQ(ParseHclTypeExpression("list(string)")->elements[0].kind, CtyType::Kind::kString);
  EXPECT_FALSE(ParseHclTypeExpression("").ok());
  EXPECT_FALSE(ParseHclTypeExpression("list(strin)").ok());
}

}  // namespace
}  // namespace carp_exec::config
