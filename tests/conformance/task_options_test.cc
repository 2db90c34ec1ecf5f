// Task and plugin options that change how a task runs: disabled logs, a log FIFO without a
// reader, the task user and the deny lists, denied environment variables, a disabled plugin
// (protocol reference §6.3, §7; checklist §8.10; issue 3 item 1).

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/conformance/lifecycle_support.h"

namespace carp_exec::conformance {
namespace {

class TaskOptionsTest : public LifecycleTest {
 protected:
  // A changed plugin config reaches a plugin only through an agent restart: a new process.
  void Reconfigure(std::vector<CtyValue::Entry> options) { RelaunchPluginWith(std::move(options)); }
  grpc::Status StartWithUser(const std::string& script, const std::string& user,
                             drivers::TaskConfig* task) {
    *task = MakeTask(ShellConfig(script));
    task->set_user(user);
    drivers::StartTaskResponse response;
    return Start(*task, &response);
  }
};

// `logs { disabled = true }`: both paths are /dev/null and the task still runs.
TEST_F(TaskOptionsTest, DisabledLogsWriteToDevNull) {
  drivers::TaskConfig task = MakeTask(ShellConfig("echo lost; exit 0"));
  task.set_stdout_path("/dev/null");
  task.set_stderr_path("/dev/null");
  drivers::StartTaskResponse response;
  const grpc::Status status = Start(task, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait).ok());
  EXPECT_EQ(wait.result().exit_code(), 0);
}

// A FIFO nobody reads must not block StartTask forever (open O_NONBLOCK, ENXIO fails fast).
TEST_F(TaskOptionsTest, StartTaskDoesNotHangOnALogFifoWithoutReader) {
  const std::string fifo = task_->task_dir() + "/tmp/.orphan.stdout.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  drivers::TaskConfig task = MakeTask(ShellConfig("exit 0"));
  task.set_stdout_path(fifo);
  drivers::StartTaskRequest request;
  *request.mutable_task() = task;
  started_ids_.push_back(task.id());
  grpc::ClientContext context;
  test_host::SetDeadline(&context, absl::Seconds(20));
  drivers::StartTaskResponse response;
  const grpc::Status status = plugin_->driver().StartTask(&context, request, &response);
  EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << "StartTask blocked opening a FIFO without a reader";
}

TEST_F(TaskOptionsTest, TaskRunsAsTheRequestedUser) {
  if (geteuid() != 0) GTEST_SKIP() << "changing users needs root";
  drivers::TaskConfig task;
  const grpc::Status status = StartWithUser("id -un; id -u", "nobody", &task);
  ASSERT_TRUE(status.ok()) << status.error_message();
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait).ok());
  EXPECT_EQ(wait.result().exit_code(), 0);
  EXPECT_TRUE(WaitForStdout("nobody\n65534\n")) << task_->stdout_log()->Contents();
}

TEST_F(TaskOptionsTest, UnknownUserIsAnErrorNamingIt) {
  drivers::TaskConfig task;
  const grpc::Status status = StartWithUser("exit 0", "carp-no-such-user", &task);
  ASSERT_FALSE(status.ok()) << "started as a user that does not exist";
  EXPECT_TRUE(absl::StrContains(status.error_message(), "carp-no-such-user"))
      << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "unknown user")) << status.error_message();
}

TEST_F(TaskOptionsTest, DeniedHostUidIsRefused) {
  Reconfigure({{"denied_host_uids", CtyValue::String("0-10")}});
  drivers::TaskConfig task;
  const grpc::Status status = StartWithUser("exit 0", "root", &task);
  ASSERT_FALSE(status.ok()) << "started as root although uids 0-10 are denied";
  EXPECT_TRUE(absl::StrContains(status.error_message(), "denied_host_uids"))
      << status.error_message();
}

TEST_F(TaskOptionsTest, DeniedEnvVarsAreRemovedFromTheTaskEnvironment) {
  Reconfigure({{"denied_envvars", CtyValue::StringList({"CARP_SECRET_*"})}});
  CtyValue config = ShellConfig("echo \"a=$CARP_SECRET_A b=$CARP_TASK_SECRET c=$CARP_VISIBLE\"");
  config.mutable_entries().emplace_back("denied_envvars",
                                        CtyValue::StringList({"CARP_TASK_SECRET"}));
  drivers::TaskConfig task = MakeTask(config);
  (*task.mutable_env())["CARP_SECRET_A"] = "1";
  (*task.mutable_env())["CARP_TASK_SECRET"] = "2";
  (*task.mutable_env())["CARP_VISIBLE"] = "3";
  drivers::StartTaskResponse response;
  const grpc::Status status = Start(task, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait).ok());
  EXPECT_TRUE(WaitForStdout("a= b= c=3\n")) << task_->stdout_log()->Contents();
}

TEST_F(TaskOptionsTest, DisabledPluginRefusesTasks) {
  Reconfigure({{"enabled", CtyValue::Bool(false)}});
  drivers::TaskConfig task = MakeTask(ShellConfig("exit 0"));
  drivers::StartTaskResponse response;
  const grpc::Status status = Start(task, &response);
  EXPECT_FALSE(status.ok()) << "a disabled driver started a task";
}

}  // namespace
}  // namespace carp_exec::conformance
