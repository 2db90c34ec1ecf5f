// OpenChangeEventSource on Linux with a real NETLINK_ROUTE socket inside a network namespace
// this test creates (cxevt<pid>, deleted at the end), so no other traffic on the host wakes it.
// Needs root (ip netns add); skipped otherwise.

#include "fingerprint/change_events.h"

#include "fingerprint/unique_fd.h"

// Linux only: setns(2) and network namespaces. The BSDs' route-socket source is tested through
// its parser (route_messages_test) with recorded message bytes.
#if defined(__linux__)

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "fingerprint/command_runner.h"
#include "gtest/gtest.h"

namespace carp_exec::fingerprint {
namespace {

constexpr absl::Duration kGenerous = absl::Seconds(5);  // an upper bound, never a measurement

class ChangeEventsNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create a network namespace";
    name_ = absl::StrCat("cxevt", ::getpid());
    ASSERT_TRUE(Ip({"netns", "add", name_})) << "ip netns add " << name_;
    created_ = true;
    char dir[] = "/tmp/cxevtXXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    if (created_) Ip({"netns", "del", name_});
    if (!dir_.empty()) {
      ::unlink((dir_ + "/state").c_str());
      ::unlink((dir_ + "/other").c_str());
      ::rmdir(dir_.c_str());
    }
  }

  bool Ip(std::vector<std::string> args) {
    args.insert(args.begin(), "/sbin/ip");
    absl::StatusOr<CommandResult> result = runner_.Run(args, absl::Seconds(10));
    return result.ok() && result->Succeeded();
  }
  bool InNamespace(std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", name_});
    return Ip(std::move(args));
  }

  // Opens the source from a thread that joined the namespace: the socket stays bound to it.
  std::unique_ptr<ChangeEventSource> OpenInNamespace(const ObserverOptions& options) {
    std::unique_ptr<ChangeEventSource> source;
    std::string error;
    std::thread([&] {
      const int ns = ::open(absl::StrCat("/run/netns/", name_).c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) {
        error = "cannot join the namespace";
      } else {
        absl::StatusOr<std::unique_ptr<ChangeEventSource>> opened = OpenChangeEventSource(options);
        if (opened.ok()) {
          source = *std::move(opened);
        } else {
          error = std::string(opened.status().message());
        }
      }
      if (ns >= 0) ::close(ns);
    }).join();
    EXPECT_NE(source, nullptr) << error;
    return source;
  }

  SystemCommandRunner runner_;
  std::string name_;
  std::string dir_;
  bool created_ = false;
};

TEST_F(ChangeEventsNetnsTest, AddingAndRemovingAnAddressWakesTheWait) {
  ObserverOptions options;
  options.backend = BackendKind::kKeepalived;
  std::unique_ptr<ChangeEventSource> events = OpenInNamespace(options);
  ASSERT_NE(events, nullptr);
  EXPECT_EQ(events->Describe(), "netlink");
  // Nothing happens in a fresh namespace: the wait runs out.
  EXPECT_FALSE(events->Wait(absl::Now() + absl::Milliseconds(30), -1));

  ASSERT_TRUE(InNamespace({"addr", "add", "192.0.2.10/32", "dev", "lo"}));
  EXPECT_TRUE(events->Wait(absl::Now() + kGenerous, -1));  // RTM_NEWADDR
  ASSERT_TRUE(InNamespace({"addr", "del", "192.0.2.10/32", "dev", "lo"}));
  EXPECT_TRUE(events->Wait(absl::Now() + kGenerous, -1));  // RTM_DELADDR
}

TEST_F(ChangeEventsNetnsTest, TheStateFileWakesTheWaitOtherFilesDoNot) {
  ObserverOptions options;
  options.backend = BackendKind::kKeepalived;
  options.state_file = dir_ + "/state";
  std::unique_ptr<ChangeEventSource> events = OpenInNamespace(options);
  ASSERT_NE(events, nullptr);
  EXPECT_EQ(events->Describe(), "netlink+inotify");

  std::ofstream(dir_ + "/other") << "unrelated\n";
  EXPECT_FALSE(events->Wait(absl::Now() + absl::Milliseconds(30), -1));
  std::ofstream(dir_ + "/state") << "BACKUP\n";
  EXPECT_TRUE(events->Wait(absl::Now() + kGenerous, -1));
}

// The waker's stop (driver/failover/change_waker.h): a readable interrupt ends the wait at once,
// before its deadline, and leaves the queued changes for the next wait.
TEST_F(ChangeEventsNetnsTest, AReadableInterruptEndsTheWaitAndKeepsTheQueuedChanges) {
  ObserverOptions options;
  options.backend = BackendKind::kKeepalived;
  std::unique_ptr<ChangeEventSource> events = OpenInNamespace(options);
  ASSERT_NE(events, nullptr);
  absl::StatusOr<WakePipe> stop = WakePipe::Open();
  ASSERT_TRUE(stop.ok()) << stop.status();
  ASSERT_TRUE(InNamespace({"addr", "add", "192.0.2.11/32", "dev", "lo"}));
  stop->Wake();
  const absl::Time start = absl::Now();
  EXPECT_FALSE(events->Wait(start + kGenerous, stop->read_fd()));
  EXPECT_LT(absl::Now() - start, kGenerous) << "the interrupt must end the wait, not its deadline";
  stop->Drain();
  EXPECT_TRUE(events->Wait(absl::Now() + kGenerous, stop->read_fd()))  // the RTM_NEWADDR
      << "the change queued before the interrupt must not be lost";
}

TEST(ChangeEventsTest, AMissingStateFileDirectoryIsAnErrorNamingIt) {
  ObserverOptions options;
  options.backend = BackendKind::kKeepalived;
  options.state_file = "/nonexistent-carp-exec-dir/state";
  absl::StatusOr<std::unique_ptr<ChangeEventSource>> events = OpenChangeEventSource(options);
  ASSERT_FALSE(events.ok());
  EXPECT_NE(events.status().message().find("/nonexistent-carp-exec-dir"), absl::string_view::npos);
}

}  // namespace
}  // namespace carp_exec::fingerprint

#endif  // defined(__linux__)
