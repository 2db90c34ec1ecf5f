// hashicorp.nomad.plugins.base.proto.BasePlugin as the agent uses it during start-up
// (protocol reference §3, §3.1; checklist §8.2).

#include <regex>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/conformance/conformance_support.h"

namespace carp_exec::conformance {
namespace {

using test_host::SetDeadline;

class BasePluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<PluginProcess>> started = PluginProcess::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    plugin_ = std::move(*started);
  }
  void TearDown() override {
    if (plugin_) plugin_->Shutdown();
  }

  grpc::Status SetConfigBytes(const std::string& bytes, const base::NomadConfig* nomad) {
    base::SetConfigRequest request;
    request.set_msgpack_config(bytes);
    request.set_plugin_api_version("v0.1.0");
    if (nomad != nullptr) *request.mutable_nomad_config() = *nomad;
    grpc::ClientContext context;
    SetDeadline(&context, kRpcTimeout);
    base::SetConfigResponse response;
    return plugin_->base().SetConfig(&context, request, &response);
  }

  std::unique_ptr<PluginProcess> plugin_;
};

TEST_F(BasePluginTest, PluginInfoNamesADriverWithApiV010AndASemverVersion) {
  grpc::ClientContext context;
  SetDeadline(&context, kRpcTimeout);
  base::PluginInfoResponse info;
  ASSERT_TRUE(plugin_->base().PluginInfo(&context, base::PluginInfoRequest(), &info).ok());
  EXPECT_EQ(info.type(), base::DRIVER);
  EXPECT_EQ(info.name(), "carp_exec") << "the name jobs use in driver = \"...\"";
  bool has_v010 = false;
  for (const std::string& version : info.plugin_api_versions()) has_v010 |= version == "v0.1.0";
  EXPECT_TRUE(has_v010) << "plugin_api_versions must include v0.1.0, the only driver API";
  static const std::regex kSemver(
      R"(^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$)");
  EXPECT_TRUE(std::regex_match(info.plugin_version(), kSemver)) << info.plugin_version();
}

TEST_F(BasePluginTest, ConfigSchemaIsPresentAndConverts) {
  absl::StatusOr<hclspec::Spec> schema = FetchConfigSchema(*plugin_);
  ASSERT_TRUE(schema.ok()) << schema.status();
  ASSERT_NE(schema->block_case(), hclspec::Spec::BLOCK_NOT_SET)
      << "an unset spec means the plugin takes no config block at all";
  EXPECT_TRUE(test_host::CheckSpecConverts(*schema).ok()) << test_host::CheckSpecConverts(*schema);
  // Defaults-only must be a valid config: the agent sends it for an empty config {} block.
  EXPECT_TRUE(test_host::EncodeLikeNomad(*schema, CtyValue::Map({})).ok())
      << "the schema has a required option: " << test_host::DescribeSchema(*schema);
}

// Launch #2 of agent start-up: SetConfig with the decoded config and no nomad_config, twice;
// the kept launch then sends it again with nomad_config. The plugin must take all of them.
TEST_F(BasePluginTest, SetConfigDefaultsOnlyWithoutNomadConfigThreeTimesThenWithIt) {
  absl::StatusOr<hclspec::Spec> schema = FetchConfigSchema(*plugin_);
  ASSERT_TRUE(schema.ok()) << schema.status();
  absl::StatusOr<std::string> defaults = test_host::EncodeLikeNomad(*schema, CtyValue::Map({}));
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  for (int i = 0; i < 3; ++i) {
    const grpc::Status status = SetConfigBytes(*defaults, nullptr);
    EXPECT_TRUE(status.ok()) << "SetConfig #" << i + 1 << ": " << status.error_message();
  }
  // With nomad_config the driver activates and creates its state dir: keep that in a temp dir
  // (defaults otherwise) so the test never writes to /var.
  TempDir state;
  absl::StatusOr<std::string> kept = test_host::EncodeLikeNomad(
      *schema, CtyValue::Map({{"state_dir", CtyValue::String(state.path())}}));
  ASSERT_TRUE(kept.ok()) << kept.status();
  const base::NomadConfig nomad = NomadClientConfig();
  const grpc::Status status = SetConfigBytes(*kept, &nomad);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(BasePluginTest, SetConfigWithEmptyBytesMeansDefaults) {
  const grpc::Status status = SetConfigBytes("", nullptr);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(BasePluginTest, SetConfigAcceptsARealisticConfig) {
  TempDir state;
  absl::Status status = SetConfig(*plugin_,
                                  CtyValue::Map({{"log_level", CtyValue::String("debug")},
                                                 {"state_dir", CtyValue::String(state.path())}}),
                                  nullptr);
  EXPECT_TRUE(status.ok()) << status;
}

// A bad value must be named, with the value, so the operator can fix the agent config.
TEST_F(BasePluginTest, SetConfigRejectsABadLogLevelNamingFieldAndValue) {
  absl::Status status =
      SetConfig(*plugin_, CtyValue::Map({{"log_level", CtyValue::String("loudest")}}), nullptr);
  ASSERT_FALSE(status.ok()) << "log_level = \"loudest\" was accepted";
  EXPECT_TRUE(absl::StrContains(status.message(), "log_level")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "loudest")) << status;
}

TEST_F(BasePluginTest, SetConfigRejectsBadDeniedUidsNamingFieldAndValue) {
  absl::Status status = SetConfig(
      *plugin_, CtyValue::Map({{"denied_host_uids", CtyValue::String("0-abc")}}), nullptr);
  ASSERT_FALSE(status.ok()) << "denied_host_uids = \"0-abc\" was accepted";
  EXPECT_TRUE(absl::StrContains(status.message(), "denied_host_uids")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "0-abc")) << status;
}

// A rejected config must not leave the plugin unusable: the agent fixes the file and retries.
TEST_F(BasePluginTest, SetConfigWorksAgainAfterARejectedConfig) {
  EXPECT_FALSE(
      SetConfig(*plugin_, CtyValue::Map({{"log_level", CtyValue::String("loudest")}}), nullptr)
          .ok());
  const absl::Status status = SetConfig(*plugin_, CtyValue::Map({}), nullptr);
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace carp_exec::conformance
