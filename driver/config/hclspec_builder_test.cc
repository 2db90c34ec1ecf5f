#include "driver/config/hclspec_builder.h"

#include "gtest/gtest.h"

namespace carp_exec::config {
namespace {

using V = CtyValue;

TEST(HclLiteralTest, WritesHclExpressions) {
  EXPECT_EQ(HclLiteral(V::Bool(true)), "true");
  EXPECT_EQ(HclLiteral(V::Int(50)), "50");
  EXPECT_EQ(HclLiteral(V::Double(0.5)), "0.5");
  EXPECT_EQ(HclLiteral(V::String("info")), "\"info\"");
  EXPECT_EQ(HclLiteral(V::String("a\"b\\c\n${x}%{y}$z")), R"("a\"b\\c\n$${x}%%{y}$z")");
  EXPECT_EQ(HclLiteral(V::StringList({"carp0", "carp1"})), R"(["carp0", "carp1"])");
  EXPECT_EQ(HclLiteral(V::Map({{"k", V::Null()}})), R"({"k" = null})");
}

TEST(HclLiteralTest, ReadsBackWhatItWrites) {
  const CtyValue values[] = {
      V::Bool(false),
      V::Int(-7),
      V::String("a\"b\\c\n\t${x}%{y}\x01"),
      V::List({V::String("x"), V::Int(1), V::Null()}),
      V::Map({{"a", V::StringList({"1"})}, {"b", V::Map({})}}),
  };
  for (const CtyValue& value : values) {
    const std::string literal = HclLiteral(value);
    absl::StatusOr<CtyValue> back = ParseHclLiteral(literal);
    ASSERT_TRUE(back.ok()) << literal << ": " << back.status();
    EXPECT_EQ(HclLiteral(*back), literal);
  }
  EXPECT_FALSE(ParseHclLiteral("\"open").ok());
  EXPECT_FALSE(ParseHclLiteral("[1,").ok());
  EXPECT_FALSE(ParseHclLiteral("upper(\"x\")").ok());
  EXPECT_FALSE(ParseHclLiteral("1 2").ok());
}

TEST(HclSpecBuilderTest, BuildsTheMessagesNomadReads) {
  hclspec::Spec spec = ObjectSpec({
      {"enabled", DefaultSpec(AttrSpec("enabled", "bool", false), LiteralSpec("true"))},
      {"vrrp", BlockSpec("vrrp", false,
                         ObjectSpec({{"interface", AttrSpec("interface", "string", true)}}))},
  });
  ASSERT_EQ(spec.block_case(), hclspec::Spec::kObject);
  const hclspec::Spec& enabled = spec.object().attributes().at("enabled");
  ASSERT_EQ(enabled.block_case(), hclspec::Spec::kDefault);
  EXPECT_EQ(enabled.default_().primary().attr().name(), "enabled");  // Default passes no name
  EXPECT_EQ(enabled.default_().primary().attr().type(), "bool");
  EXPECT_EQ(enabled.default_().default_().literal().value(), "true");
  const hclspec::Spec& vrrp = spec.object().attributes().at("vrrp");
  EXPECT_EQ(vrrp.block_value().name(), "vrrp");
  EXPECT_TRUE(vrrp.block_value().nested().object().attributes().at("interface").attr().required());
}

}  // namespace
}  // namespace carp_exec::config
