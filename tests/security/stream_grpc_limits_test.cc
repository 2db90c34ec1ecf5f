// Issue 9, item 7: gRPC accepted requests up to 2 GiB (a 256 MiB SetConfig was taken whole).
// The real plugin now refuses anything above PluginHost::kMaxReceiveMessageBytes with
// RESOURCE_EXHAUSTED, keeps serving, and the agent's other calls on the same connection (here
// the Fingerprint stream; WaitTask in real life) carry on.

#include <cstdio>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "driver/host/plugin_host.h"
#include "gtest/gtest.h"
#include "tests/conformance/conformance_support.h"
#include "tests/host/exec_client.h"

namespace carp_exec::conformance {
namespace {

using test_host::SetDeadline;

constexpr size_t kMiB = size_t{1} << 20;
// What the plugin may keep after refusing a 256 MiB request (its peak before was the baseline).
constexpr long kRetainedBoundKb = 32 * 1024;

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
  // gRPC C++ 1.51 compares a request with the limit only once it is complete, so the refusal
  // costs its size for a moment (plugin_host.h says why no gRPC memory quota bounds that);
  // the plugin host then gives the freed memory back within kMemoryReleaseInterval.
  const long peak_kb = test_host::ProcessStatusKb(plugin_->pid(), "VmHWM");
  const absl::Time give_up = absl::Now() + 3 * host::PluginHost::kMemoryReleaseInterval;
  long rss_kb = test_host::ProcessStatusKb(plugin_->pid(), "VmRSS");
  while (rss_kb > before_kb + kRetainedBoundKb && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(200));
    rss_kb = test_host::ProcessStatusKb(plugin_->pid(), "VmRSS");
  }
  std::printf("256 MiB SetConfig refused; plugin peak RSS %ld KiB (+%ld), RSS afterwards %ld KiB\n",
              peak_kb, peak_kb - before_kb, rss_kb);
  EXPECT_LE(rss_kb, before_kb + kRetainedBoundKb)
      << "the plugin kept the refused request's memory: RSS " << rss_kb << " KiB";
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
