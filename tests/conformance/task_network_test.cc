// Group networking (issue 10 item 5). carp_exec advertises network isolation mode GROUP like
// raw_exec; for a bridge-mode group Nomad's network hook creates a namespace per alloc and
// passes it as TaskConfig.network_isolation_spec {mode GROUP, path /var/run/netns/<alloc id>}
// (client/allocrunner/network_manager_linux.go). raw_exec runs the task, script checks and
// `nomad alloc exec` inside it (drivers/shared/executor/executor_universal_linux.go,
// withNetworkIsolation); so must we. The namespace here is made by the test with `ip netns
// add` under a unique name and deleted afterwards.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/conformance/lifecycle_support.h"

namespace carp_exec::conformance {
namespace {

using test_host::SetDeadline;

// "net:[<inode>]", as readlink(/proc/self/ns/net) prints a network namespace.
std::string NamespaceLink(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  return absl::StrCat("net:[", st.st_ino, "]");
}

class TaskNetworkTest : public LifecycleTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "ip netns add needs root";
    if (access("/usr/sbin/ip", X_OK) != 0 && access("/sbin/ip", X_OK) != 0) {
      GTEST_SKIP() << "iproute2 (ip) is not installed";
    }
    LifecycleTest::SetUp();
    if (HasFatalFailure()) return;
    name_ = absl::StrCat("cxnomad", getpid());
    ASSERT_EQ(std::system(absl::StrCat("ip netns add ", name_).c_str()), 0);
    created_ = true;
    path_ = absl::StrCat("/var/run/netns/", name_);  // what Nomad passes (nsutil.NetNSRunDir)
    group_link_ = NamespaceLink(path_);
    ASSERT_FALSE(group_link_.empty()) << path_;
    ASSERT_NE(group_link_, NamespaceLink("/proc/self/ns/net"));
  }
  void TearDown() override {
    if (plugin_ != nullptr) LifecycleTest::TearDown();
    if (created_) (void)std::system(absl::StrCat("ip netns delete ", name_).c_str());
  }

  drivers::TaskConfig InGroup(const std::string& script, const std::string& path) {
    drivers::TaskConfig task = MakeTask(ShellConfig(script));
    task.mutable_network_isolation_spec()->set_mode(drivers::NetworkIsolationSpec::GROUP);
    task.mutable_network_isolation_spec()->set_path(path);
    return task;
  }

  std::string ExecOutput(const std::string& id, const std::string& program) {
    drivers::ExecTaskRequest request;
    request.set_task_id(id);
    request.add_command(program);
    request.add_command("/proc/self/ns/net");
    *request.mutable_timeout() = ToProtoDuration(absl::Seconds(10));
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(40));
    drivers::ExecTaskResponse response;
    const grpc::Status status = plugin_->driver().ExecTask(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.stdout();
  }

  std::string StreamOutput(const std::string& id) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(40));
    auto stream = plugin_->driver().ExecTaskStreaming(&context);
    drivers::ExecTaskStreamingRequest setup;
    setup.mutable_setup()->set_task_id(id);
    setup.mutable_setup()->add_command("/bin/readlink");
    setup.mutable_setup()->add_command("/proc/self/ns/net");
    stream->Write(setup);
    std::string out;
    drivers::ExecTaskStreamingResponse response;
    while (stream->Read(&response)) {
      if (response.has_stdout()) out += response.stdout().data();
    }
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
    return out;
  }

  std::string name_, path_, group_link_;
  bool created_ = false;
};

TEST_F(TaskNetworkTest, TaskAndExecSessionsRunInTheGroupNamespace) {
  const drivers::TaskConfig task =
      InGroup("echo task=$(readlink /proc/self/ns/net); exec sleep 1000", path_);
  drivers::StartTaskResponse started;
  const grpc::Status status = Start(task, &started);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(WaitForStdout(absl::StrCat("task=", group_link_, "\n")))
      << "the task did not run in " << path_;
  EXPECT_TRUE(absl::StrContains(ExecOutput(task.id(), "/bin/readlink"), group_link_))
      << "ExecTask (script checks) ran outside the group's namespace";
  EXPECT_TRUE(absl::StrContains(StreamOutput(task.id()), group_link_))
      << "ExecTaskStreaming (nomad alloc exec) ran outside the group's namespace";
}

TEST_F(TaskNetworkTest, HostModeStaysInTheHostNamespace) {
  drivers::TaskConfig task =
      MakeTask(ShellConfig("echo task=$(readlink /proc/self/ns/net); exec sleep 1000"));
  task.mutable_network_isolation_spec()->set_mode(drivers::NetworkIsolationSpec::HOST);
  drivers::StartTaskResponse started;
  ASSERT_TRUE(Start(task, &started).ok());
  EXPECT_TRUE(WaitForStdout(absl::StrCat("task=", NamespaceLink("/proc/self/ns/net"), "\n")));
}

// The ready probe runs in the plugin's (the host's) network: in a group namespace it would
// probe the host's loopback, never the task, and give the job a root port scanner.
TEST_F(TaskNetworkTest, ReadyCheckOfATaskInTheGroupNamespaceIsRefused) {
  drivers::TaskConfig task = MakeTask(
      CtyValue::Map({{"command", CtyValue::String("/bin/sleep")},
                     {"args", CtyValue::StringList({"1000"})},
                     {"ready", CtyValue::Map({{"tcp", CtyValue::String("127.0.0.1:22")}})}}));
  task.mutable_network_isolation_spec()->set_mode(drivers::NetworkIsolationSpec::GROUP);
  task.mutable_network_isolation_spec()->set_path(path_);
  drivers::StartTaskResponse started;
  const grpc::Status status = Start(task, &started);
  EXPECT_FALSE(status.ok()) << "a ready check from the host's network was accepted";
  EXPECT_TRUE(absl::StrContains(status.error_message(), "ready")) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), path_)) << status.error_message();
}

TEST_F(TaskNetworkTest, APathThatIsNotANamespaceFailsTheStartWithTheReason) {
  drivers::StartTaskResponse started;
  const grpc::Status status = Start(InGroup("exec sleep 1000", "/etc/hostname"), &started);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.error_message(), "not a network namespace"))
      << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "/etc/hostname")) << status.error_message();
}

}  // namespace
}  // namespace carp_exec::conformance
