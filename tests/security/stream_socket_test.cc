// Issue 9, attack 5: under PLUGIN_UNIX_SOCKET_DIR the socket was always `plugin.sock`, so two
// plugin processes (an agent restart whose reattach failed) shared it and the first to exit
// unlinked the other's; its mode was whatever the umask left. Now each process binds a fresh
// random name (as go-plugin does: server.go, serverListener_unix, os.CreateTemp(dir,
// "plugin")), sets mode 0600 before announcing it, and removes only its own socket.

#include <sys/stat.h>

#include <string>

#include "absl/strings/match.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/conformance/conformance_support.h"
#include "tests/host/health_check.h"

namespace carp_exec::conformance {
namespace {

using test_host::LaunchOptions;

std::unique_ptr<PluginProcess> StartIn(const std::string& socket_dir) {
  LaunchOptions options;
  if (!socket_dir.empty()) options.extra_env.emplace_back("PLUGIN_UNIX_SOCKET_DIR", socket_dir);
  absl::StatusOr<std::unique_ptr<PluginProcess>> plugin = PluginProcess::Start(options);
  EXPECT_TRUE(plugin.ok()) << plugin.status();
  return plugin.ok() ? std::move(*plugin) : nullptr;
}

// A new connection to `path` (an existing channel would survive an unlinked socket).
absl::StatusOr<test_host::ServingStatus> DialAndCheck(const std::string& path) {
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials());
  return test_host::CheckHealth(channel, "plugin", absl::Seconds(10));
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode;
}

TEST(StreamSocketTest, TwoPluginsSharingASocketDirKeepTheirOwnSockets) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  ASSERT_EQ(chmod(dir.path().c_str(), 0700), 0);
  std::unique_ptr<PluginProcess> first = StartIn(dir.path());
  std::unique_ptr<PluginProcess> second = StartIn(dir.path());
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  const std::string first_path = first->handshake()->address;
  const std::string second_path = second->handshake()->address;
  EXPECT_NE(first_path, second_path) << "both plugins announced the same socket";
  EXPECT_TRUE(absl::StartsWith(first_path, dir.path() + "/")) << first_path;
  EXPECT_TRUE(absl::StartsWith(second_path, dir.path() + "/")) << second_path;

  EXPECT_TRUE(first->Shutdown().exited_in_grace);
  EXPECT_EQ(ModeOf(first_path), 0u) << "the exiting plugin left its socket behind";
  ASSERT_TRUE(S_ISSOCK(ModeOf(second_path))) << "the exiting plugin removed the other's socket";
  absl::StatusOr<test_host::ServingStatus> health = DialAndCheck(second_path);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, test_host::ServingStatus::kServing);
  EXPECT_EQ(ModeOf(dir.path()) & 07777, 0700u) << "the plugin changed the agent's directory";
  EXPECT_TRUE(second->Shutdown().exited_in_grace);
}

TEST(StreamSocketTest, TheSocketIsOwnerOnlyWhateverTheUmask) {
  // The plugin inherits the agent's umask; a permissive one must not leak into the socket.
  const mode_t old_umask = umask(0);
  TempDir dir;
  std::unique_ptr<PluginProcess> shared = StartIn(dir.path());
  std::unique_ptr<PluginProcess> own = StartIn("");
  umask(old_umask);
  ASSERT_NE(shared, nullptr);
  ASSERT_NE(own, nullptr);
  for (const PluginProcess* plugin : {shared.get(), own.get()}) {
    const std::string path = plugin->handshake()->address;
    const mode_t mode = ModeOf(path);
    EXPECT_TRUE(S_ISSOCK(mode)) << path;
    EXPECT_EQ(mode & 07777, 0600u) << path;
  }
  // Without PLUGIN_UNIX_SOCKET_DIR the socket sits in a private directory of its own.
  const std::string own_path = own->handshake()->address;
  const std::string own_dir = own_path.substr(0, own_path.rfind('/'));
  EXPECT_EQ(ModeOf(own_dir) & 07777, 0700u) << own_dir;
  own->Shutdown();
  EXPECT_EQ(ModeOf(own_dir), 0u) << "private socket directory left behind: " << own_dir;
  shared->Shutdown();
}

}  // namespace
}  // namespace carp_exec::conformance
