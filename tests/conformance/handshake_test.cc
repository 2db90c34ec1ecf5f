// The go-plugin bootstrap as a Nomad agent experiences it: environment checks, the handshake
// line, the socket, health, graceful shutdown, signals, and the shape of every stderr line
// (protocol reference §1–§2, checklist §8.1).

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/conformance/conformance_support.h"

namespace carp_exec::conformance {
namespace {

using test_host::Handshake;
using test_host::LaunchOptions;
using test_host::ServingStatus;

constexpr absl::Duration kExitWait = absl::Seconds(10);

std::unique_ptr<PluginProcess> SpawnOrFail(const LaunchOptions& options) {
  absl::StatusOr<std::unique_ptr<PluginProcess>> plugin = PluginProcess::Spawn(options);
  EXPECT_TRUE(plugin.ok()) << plugin.status();
  return plugin.ok() ? std::move(*plugin) : nullptr;
}

std::unique_ptr<PluginProcess> StartOrFail(const LaunchOptions& options = LaunchOptions()) {
  absl::StatusOr<std::unique_ptr<PluginProcess>> plugin = PluginProcess::Start(options);
  EXPECT_TRUE(plugin.ok()) << plugin.status();
  return plugin.ok() ? std::move(*plugin) : nullptr;
}

std::string Stderr(const PluginProcess& plugin) {
  return absl::StrJoin(plugin.StderrLines(), "\n");
}

// Without the cookie the binary was run by hand: explain, exit 1, say nothing on stdout.
void ExpectRefusedAsNotAPlugin(PluginProcess& plugin) {
  ASSERT_TRUE(plugin.WaitForExit(kExitWait)) << "plugin kept running without a valid cookie";
  ASSERT_TRUE(plugin.output().WaitForEof(absl::Now() + kExitWait));
  const int status = *plugin.exit_status();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << plugin.DescribeExit();
  EXPECT_EQ(plugin.output().StdoutByteCount(), 0u)
      << "stdout: \"" << plugin.output().StdoutBytes() << "\"";
  const std::string text = Stderr(plugin);
  EXPECT_FALSE(text.empty()) << "a human needs to be told what this binary is";
  EXPECT_TRUE(absl::StrContains(absl::AsciiStrToLower(text), "plugin")) << text;
}

TEST(HandshakeTest, WithoutMagicCookieExitsOneWithTextOnStderrAndNothingOnStdout) {
  LaunchOptions options;
  options.magic_cookie = std::nullopt;
  std::unique_ptr<PluginProcess> plugin = SpawnOrFail(options);
  ASSERT_NE(plugin, nullptr);
  ExpectRefusedAsNotAPlugin(*plugin);
}

TEST(HandshakeTest, WithWrongMagicCookieExitsOne) {
  LaunchOptions options;
  options.magic_cookie = "not-the-nomad-cookie";
  std::unique_ptr<PluginProcess> plugin = SpawnOrFail(options);
  ASSERT_NE(plugin, nullptr);
  ExpectRefusedAsNotAPlugin(*plugin);
}

// Nomad only speaks app protocol 2. Offered only 1, a Go plugin still answers its own version
// (go-plugin falls back to the lowest it has) and the host refuses it; a plugin may instead
// refuse up front. Either way the host must not accept a handshake, and a plugin that exits
// must do so with a non-zero code and a reason on stderr.
TEST(HandshakeTest, OfferingOnlyProtocolOneFailsCleanly) {
  LaunchOptions options;
  options.protocol_versions = "1";
  std::unique_ptr<PluginProcess> plugin = SpawnOrFail(options);
  ASSERT_NE(plugin, nullptr);
  const absl::StatusOr<Handshake> handshake =
      plugin->ReadHandshake(absl::Now() + options.handshake_timeout);
  EXPECT_FALSE(handshake.ok()) << "the host accepted a handshake for a protocol it never offered";
  if (plugin->WaitForExit(absl::Seconds(2))) {
    const int status = *plugin->exit_status();
    EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << plugin->DescribeExit();
    ASSERT_TRUE(plugin->output().WaitForEof(absl::Now() + kExitWait));
    EXPECT_FALSE(Stderr(*plugin).empty()) << "the refusal needs a reason on stderr";
  } else {
    // Still running after a handshake the host rejected: the host kills it, as Nomad does.
    plugin->Kill();
  }
}

TEST(HandshakeTest, OfferingOneAndTwoNegotiatesTwo) {
  LaunchOptions options;
  options.protocol_versions = "1,2";
  std::unique_ptr<PluginProcess> plugin = StartOrFail(options);
  ASSERT_NE(plugin, nullptr);
  const Handshake& handshake = *plugin->handshake();
  EXPECT_EQ(handshake.core_version, 1);
  EXPECT_EQ(handshake.app_version, 2);
  EXPECT_EQ(handshake.network, "unix");
  EXPECT_EQ(handshake.protocol, "grpc");
  EXPECT_TRUE(handshake.server_cert.empty()) << "Nomad never enables AutoMTLS";
  EXPECT_FALSE(handshake.mux.has_value()) << "MUX is only sent when the host asks";
}

TEST(HandshakeTest, SocketLivesInAPrivateDirectoryAndIsRemovedAfterShutdown) {
  std::unique_ptr<PluginProcess> plugin = StartOrFail();
  ASSERT_NE(plugin, nullptr);
  const std::string socket_path = plugin->handshake()->address;
  ASSERT_EQ(plugin->handshake()->network, "unix");
  EXPECT_EQ(socket_path.front(), '/') << "the address must be an absolute path";
  EXPECT_LT(socket_path.size(), 104u) << "sun_path is 104 bytes on OpenBSD";
  struct stat socket_stat;
  ASSERT_EQ(lstat(socket_path.c_str(), &socket_stat), 0) << socket_path;
  EXPECT_TRUE(S_ISSOCK(socket_stat.st_mode));
  const std::string dir = socket_path.substr(0, socket_path.rfind('/'));
  struct stat dir_stat;
  ASSERT_EQ(lstat(dir.c_str(), &dir_stat), 0) << dir;
  EXPECT_TRUE(S_ISDIR(dir_stat.st_mode));
  EXPECT_EQ(dir_stat.st_mode & 07777, 0700u) << dir << " mode " << std::oct << dir_stat.st_mode;
  EXPECT_EQ(dir_stat.st_uid, geteuid());

  const test_host::ShutdownReport report = plugin->Shutdown();
  EXPECT_TRUE(report.exited_in_grace) << plugin->DescribeExit();
  struct stat gone;
  EXPECT_NE(lstat(socket_path.c_str(), &gone), 0) << "socket left behind: " << socket_path;
  EXPECT_NE(lstat(dir.c_str(), &gone), 0) << "private directory left behind: " << dir;
}

TEST(HandshakeTest, HealthReportsPluginServing) {
  std::unique_ptr<PluginProcess> plugin = StartOrFail();
  ASSERT_NE(plugin, nullptr);
  absl::StatusOr<ServingStatus> health = plugin->Health("plugin");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, ServingStatus::kServing);
}

TEST(HandshakeTest, ControllerShutdownExitsWithinTwoSeconds) {
  std::unique_ptr<PluginProcess> plugin = StartOrFail();
  ASSERT_NE(plugin, nullptr);
  const test_host::ShutdownReport report = plugin->Shutdown(absl::Seconds(2));
  EXPECT_TRUE(report.rpc.ok()) << report.rpc;
  EXPECT_TRUE(report.exited_in_grace) << "needed SIGKILL; " << plugin->DescribeExit();
  const int status = *plugin->exit_status();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << plugin->DescribeExit();
}

// A Ctrl-C on a foreground agent reaches the whole process group; Go plugins ignore it.
TEST(HandshakeTest, SigintIsIgnored) {
  std::unique_ptr<PluginProcess> plugin = StartOrFail();
  ASSERT_NE(plugin, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(plugin->Signal(SIGINT).ok());
  // A negative check needs a wait: a default SIGINT would end the process at once.
  EXPECT_FALSE(plugin->WaitForExit(absl::Milliseconds(500))) << plugin->DescribeExit();
  absl::StatusOr<ServingStatus> health = plugin->Health("plugin");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, ServingStatus::kServing);
}

// Once the agent is gone, writes to stderr raise SIGPIPE; the plugin must survive them.
TEST(HandshakeTest, SigpipeIsIgnored) {
  std::unique_ptr<PluginProcess> plugin = StartOrFail();
  ASSERT_NE(plugin, nullptr);
  ASSERT_TRUE(plugin->Signal(SIGPIPE).ok());
  EXPECT_FALSE(plugin->WaitForExit(absl::Milliseconds(500))) << plugin->DescribeExit();
  absl::StatusOr<ServingStatus> health = plugin->Health("plugin");
  ASSERT_TRUE(health.ok()) << health.status();
}

// Nothing but the handshake may ever reach stdout: the host stops reading at a long line and
// the plugin would then block on a full pipe.
TEST(HandshakeTest, StdoutCarriesOnlyTheHandshakeLine) {
  std::unique_ptr<PluginProcess> plugin = StartOrFail();
  ASSERT_NE(plugin, nullptr);
  const std::string line = *plugin->ReadHandshakeLine(absl::Now());
  TempDir state;
  EXPECT_TRUE(ConfigureLikeDriverManager(*plugin, state.path()).ok());
  plugin->Shutdown();
  ASSERT_TRUE(plugin->output().WaitForEof(absl::Now() + kExitWait));
  EXPECT_EQ(plugin->output().StdoutBytes(), line + "\n");
}

// Nomad parses each stderr line as hclog JSON and crashes on a non-string @level/@message/
// @timestamp; a bad timestamp demotes the line to DEBUG text.
TEST(HandshakeTest, EveryStderrLineIsHclogJson) {
  std::unique_ptr<PluginProcess> plugin = StartOrFail();
  ASSERT_NE(plugin, nullptr);
  TempDir state;
  // The most verbose level, so that as many code paths as possible log something.
  absl::Status configured =
      ConfigureLikeDriverManager(*plugin, state.path(), {{"log_level", CtyValue::String("trace")}});
  EXPECT_TRUE(configured.ok()) << configured;
  grpc::ClientContext context;
  test_host::SetDeadline(&context, kRpcTimeout);
  base::PluginInfoResponse info;
  EXPECT_TRUE(plugin->base().PluginInfo(&context, base::PluginInfoRequest(), &info).ok());
  plugin->Shutdown();
  ASSERT_TRUE(plugin->output().WaitForEof(absl::Now() + kExitWait));
  const std::vector<std::string> lines = plugin->StderrLines();
  EXPECT_FALSE(lines.empty()) << "at trace level the plugin logged nothing at all";
  const std::vector<std::string> invalid = InvalidHclogLines(*plugin);
  EXPECT_TRUE(invalid.empty()) << absl::StrJoin(invalid, "\n");
}

// go-plugin custom runners pick the socket directory through PLUGIN_UNIX_SOCKET_DIR.
TEST(HandshakeTest, PluginUnixSocketDirIsHonoured) {
  TempDir dir;
  LaunchOptions options;
  options.extra_env.emplace_back("PLUGIN_UNIX_SOCKET_DIR", dir.path());
  std::unique_ptr<PluginProcess> plugin = StartOrFail(options);
  ASSERT_NE(plugin, nullptr);
  EXPECT_TRUE(absl::StartsWith(plugin->handshake()->address, dir.path() + "/"))
      << plugin->handshake()->address;
  const std::string socket_path = plugin->handshake()->address;
  EXPECT_TRUE(plugin->Shutdown().exited_in_grace);
  struct stat gone;
  EXPECT_NE(lstat(socket_path.c_str(), &gone), 0) << "socket left behind: " << socket_path;
}

// A TMPDIR too long for sun_path must fail clearly, not with a handshake nobody can dial.
TEST(HandshakeTest, OverlongSocketDirectoryFailsWithAClearMessage) {
  TempDir base;
  const std::string long_dir = base.path() + "/" + std::string(150, 'd');
  ASSERT_EQ(mkdir(long_dir.c_str(), 0700), 0);
  LaunchOptions options;
  options.extra_env.emplace_back("TMPDIR", long_dir);
  std::unique_ptr<PluginProcess> plugin = SpawnOrFail(options);
  ASSERT_NE(plugin, nullptr);
  const absl::StatusOr<Handshake> handshake =
      plugin->ReadHandshake(absl::Now() + options.handshake_timeout);
  if (handshake.ok()) {
    // Acceptable only if the plugin chose a shorter directory on its own and it works.
    EXPECT_LT(handshake->address.size(), 104u);
    EXPECT_TRUE(plugin->Connect(absl::Now() + absl::Seconds(10)).ok());
    return;
  }
  ASSERT_TRUE(plugin->WaitForExit(kExitWait)) << "no handshake, yet still running";
  const int status = *plugin->exit_status();
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << plugin->DescribeExit();
  ASSERT_TRUE(plugin->output().WaitForEof(absl::Now() + kExitWait));
  EXPECT_TRUE(absl::StrContains(Stderr(*plugin), "TMPDIR")) << Stderr(*plugin);
  EXPECT_TRUE(InvalidHclogLines(*plugin).empty())
      << absl::StrJoin(InvalidHclogLines(*plugin), "\n");
}

// go-plugin's host opens StreamStdio after connecting; it should be served (or at least not
// fail in a way other than UNIMPLEMENTED, which the host tolerates with a warning).
TEST(HandshakeTest, StdioStreamIsServed) {
  std::unique_ptr<PluginProcess> plugin = StartOrFail();
  ASSERT_NE(plugin, nullptr);
  grpc::ClientContext context;
  test_host::SetDeadline(&context, absl::Milliseconds(500));
  std::unique_ptr<grpc::ClientReader<::plugin::StdioData>> reader =
      plugin->stdio().StreamStdio(&context, google::protobuf::Empty());
  ::plugin::StdioData data;
  while (reader->Read(&data)) {
  }
  const grpc::Status status = reader->Finish();
  EXPECT_NE(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
  EXPECT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_code() << " " << status.error_message();
}

}  // namespace
}  // namespace carp_exec::conformance
