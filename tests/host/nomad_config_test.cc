#include "tests/host/nomad_config.h"

#include <string>

#include "absl/strings/escaping.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace carp_exec::test_host {
namespace {

using config::CtyValue;

hclspec::Spec ParseSpec(const std::string& text) {
  hclspec::Spec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec)) << text;
  return spec;
}

const char kTaskSchema[] = R"pb(
  object {
    attributes {
      key: "command"
      value { Attr { name: "command" type: "string" required: true } }
    }
    attributes {
      key: "args"
      value { Attr { name: "args" type: "list(string)" } }
    }
    attributes {
      key: "preempt"
      value {
        default {
          primary { Attr { name: "preempt" type: "bool" } }
          default { literal { value: "false" } }
        }
      }
    }
    attributes {
      key: "vrid"
      value { Attr { type: "number" } }
    }
    attributes {
      key: "peers"
      value {
        block_list {
          name: "peers"
          max_items: 2
          nested {
            object {
              attributes {
                key: "addr"
                value { Attr { type: "string" } }
              }
            }
          }
        }
      }
    }
  })pb";

TEST(NomadConfigTest, SchemaChecksAcceptAValidSchema) {
  EXPECT_TRUE(CheckSpecConverts(ParseSpec(kTaskSchema)).ok());
  EXPECT_EQ(DescribeSchema(ParseSpec(kTaskSchema)), "args, command!, peers, preempt, vrid");
}

TEST(NomadConfigTest, SchemaChecksFindWhatNomadCannotConvert) {
  EXPECT_FALSE(CheckSpecConverts(hclspec::Spec()).ok());
  EXPECT_FALSE(CheckSpecConverts(ParseSpec(R"pb(object {
                                                  attributes {
                                                    key: "a"
                                                    value {}
                                                  }
                                                })pb"))
                   .ok());
  EXPECT_FALSE(CheckSpecConverts(ParseSpec(R"pb(object {
                                                  attributes {
                                                    key: "a"
                                                    value { Attr { type: "" } }
                                                  }
                                                })pb"))
                   .ok());
  EXPECT_FALSE(CheckSpecConverts(ParseSpec(R"pb(object {
                                                  attributes {
                                                    key: "a"
                                                    value {
                                                      default {
                                                        primary { Attr { type: "bool" } }
                                                        default { literal { value: "true" } }
                                                      }
                                                    }
                                                  }
                                                })pb"))
                   .ok());  // no name inside default
  EXPECT_FALSE(CheckSpecConverts(ParseSpec(R"pb(block_map {
                                                  name: "m"
                                                  nested { object {} }
                                                })pb"))
                   .ok());
}

TEST(NomadConfigTest, EncodesEveryAttributeWithDefaults) {
  // Keys sorted; args absent => nil; peers absent => []; preempt default false; vrid nil.
  absl::StatusOr<std::string> bytes =
      EncodeLikeNomad(ParseSpec(kTaskSchema), CtyValue::Map({{"command", CtyValue::String("/a")}}));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(absl::BytesToHexString(*bytes),
            "85"
            "a461726773c0"            // args: nil
            "a7636f6d6d616e64a22f61"  // command: "/a"
            "a5706565727390"          // peers: []
            "a7707265656d7074c2"      // preempt: false (default literal)
            "a476726964c0");          // vrid: nil
}

TEST(NomadConfigTest, RefusesWhatNomadRefuses) {
  const hclspec::Spec schema = ParseSpec(kTaskSchema);
  EXPECT_FALSE(EncodeLikeNomad(schema, CtyValue::Map({{"command", CtyValue::String("x")},
                                                      {"comand", CtyValue::String("x")}}))
                   .ok());
}

// Example 1 of the protocol reference (§4), byte for byte.
TEST(NomadConfigTest, EncodesReferenceExampleOne) {
  absl::StatusOr<std::string> bytes =
      EncodeLikeNomad(ParseSpec(R"pb(object {
                                       attributes {
                                         key: "command"
                                         value { Attr { type: "string" required: true } }
                                       }
                                       attributes {
                                         key: "args"
                                         value { Attr { type: "list(string)" } }
                                       }
                                       attributes {
                                         key: "preempt"
                                         value { Attr { type: "bool" } }
                                       }
                                       attributes {
                                         key: "vrid"
                                         value { Attr { type: "number" } }
                                       }
                                     })pb"),
                      CtyValue::Map({{"command", CtyValue::String("/bin/app")},
                                     {"args", CtyValue::StringList({"-v"})},
                                     {"preempt", CtyValue::Bool(true)},
                                     {"vrid", CtyValue::Int(51)}}));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(absl::BytesToHexString(*bytes),
            "84a46172677391a22d76a7636f6d6d616e64a82f62696e2f617070a77072656"
            "56d7074c3a476726964"
            "33");
}

}  // namespace
}  // namespace carp_exec::test_host
