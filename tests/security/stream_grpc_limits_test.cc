// Issue 9, item 7: gRPC accepted requests up to 2 GiB (a 256 MiB SetConfig was taken whole).
// The real plugin now refuses anything above PluginHost::kMaxReceiveMessageBytes with
// RESOURCE_EXHAUSTED, without buffering it, and keeps serving.

#include <string>

#include "driver/host/plugin_host.h"
#include "gtest/gtest.h"
#include "tests/conformance/conformance_support.h"
#include "tests/host/exec_client.h"

namespace carp_exec::conformance {
namespace {

using test_host::SetDeadline;

constexpr size_t kMiB = size_t{1} << 20;

class StreamGrpcLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<PluginProcess>> started = PluginProcess::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    plugin_ = std::move(*started);
  }
  void TearDown() override {
    if (plugin_) plugin_->Shutdown();
  }

  grpc::Status SetConfigOfSize(size_t bytes) {
    base::SetConfigRequest request;
    request.set_msgpack_config(std::string(bytes, '\xc1'));  // 0xc1: never valid msgpack
    request.set_plugin_api_version("v0.1.0");
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(60));
    base::SetConfigResponse response;
    return plugin_->base().SetConfig(&context, request, &response);
  }

  std::unique_ptr<PluginProcess> plugin_;
};

TEST_F(StreamGrpcLimitsTest, OversizedSetConfigIsRefusedAndThePluginStaysAlive) {
  // A stream the agent holds on the same connection must survive the refusal.
  StreamReader<drivers::FingerprintResponse> fingerprint([this](grpc::ClientContext* context) {
    return plugin_->driver().Fingerprint(context, drivers::FingerprintRequest());
  });
  ASSERT_TRUE(fingerprint.WaitEstablished(absl::Now() + kRpcTimeout));
  const long before_kb = test_host::ProcessStatusKb(plugin_->pid(), "VmHWM");
  const grpc::Status status = SetConfigOfSize(256 * kMiB);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  ASSERT_TRUE(plugin_->running()) << plugin_->DescribeExit();
  const std::optional<grpc::Status> ended =
      fingerprint.WaitForEnd(absl::Now() + absl::Milliseconds(500));
  EXPECT_FALSE(ended.has_value()) << "the agent's Fingerprint stream was cut: "
                                  << ended->error_code() << " " << ended->error_message();
  absl::StatusOr<test_host::ServingStatus> health = plugin_->Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, test_host::ServingStatus::kServing);
  grpc::ClientContext context;
  SetDeadline(&context, kRpcTimeout);
  base::PluginInfoResponse info;
  EXPECT_TRUE(plugin_->base().PluginInfo(&context, base::PluginInfoRequest(), &info).ok());
  if (before_kb >= 0) {
    // gRPC's memory quota held the transport back: the 256 MiB never sat in the plugin's
    // memory (without the quota the peak grew by all of it). 16 MiB of allocator headroom.
    const long growth_kb = test_host::ProcessStatusKb(plugin_->pid(), "VmHWM") - before_kb;
    EXPECT_LT(growth_kb,
              static_cast<long>((host::PluginHost::kGrpcMemoryQuotaBytes + 16 * kMiB) / 1024))
        << "peak RSS grew by " << growth_kb << " KiB";
  }
}

// The limit is the documented one, not lower: a request just under it reaches the plugin,
// which answers for its content (not msgpack) instead of the transport refusing its size.
TEST_F(StreamGrpcLimitsTest, RequestsUpToTheLimitReachThePlugin) {
  const grpc::Status under = SetConfigOfSize(host::PluginHost::kMaxReceiveMessageBytes - 1024);
  EXPECT_NE(under.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << under.error_message();
  const grpc::Status over = SetConfigOfSize(host::PluginHost::kMaxReceiveMessageBytes + 1024);
  EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << over.error_message();
}

}  // namespace
}  // namespace carp_exec::conformance
