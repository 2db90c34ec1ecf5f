// Task and plugin options that change how a task runs: disabled logs, a log FIFO without a
// reader, the task user and the deny lists, denied environment variables, a disabled plugin
// (protocol reference §6.3, §7; checklist §8.10; issue 3 item 1).

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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

TEST_F(TaskOptionsTest, CommandIsLookedUpInPath) {
  drivers::TaskConfig task = MakeTask(CtyValue::Map(
      {{"command", CtyValue::String("sh")}, {"args", CtyValue::StringList({"-c", "exit 6"})}}));
  drivers::StartTaskResponse response;
  const grpc::Status status = Start(task, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait).ok());
  EXPECT_EQ(wait.result().exit_code(), 6);
}

// The task's environment is TaskConfig.env, not the plugin's: the go-plugin variables the
// agent gave the plugin must not reach tasks.
TEST_F(TaskOptionsTest, PluginEnvironmentDoesNotLeakIntoTasks) {
  StartScript(
      "echo \"cookie=${NOMAD_PLUGIN_MAGIC_COOKIE:-none} "
      "versions=${PLUGIN_PROTOCOL_VERSIONS:-none}\"");
  EXPECT_TRUE(WaitForStdout("cookie=none versions=none\n")) << task_->stdout_log()->Contents();
}

// Its own process group outside the plugin's session, no blocked or ignored signals (the plugin
// ignores SIGPIPE and handles SIGINT; neither may be inherited), and no plugin file
// descriptors beyond 0-2. glibc's reserved signals 32 and 33 are left out of the check: only a
// raw syscall can reset them.
TEST_F(TaskOptionsTest, TaskStartsInItsOwnGroupWithCleanSignalsAndFds) {
#if !defined(__linux__)
  GTEST_SKIP() << "reads /proc";
#endif
  // The ids are read by a child while the shell waits; signals and fds by commands the shell
  // execs into (dash blocks signals while waiting and keeps saved descriptors of its own).
  const drivers::TaskConfig signals = StartScript(
      "cut -d' ' -f1,5,6 /proc/$$/stat > local/ids.txt; "
      "exec grep -E '^Sig(Blk|Ign):' /proc/self/status > local/signals.txt");
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(signals.id(), &wait).ok());
  ASSERT_EQ(wait.result().exit_code(), 0);
  const drivers::TaskConfig fds = StartScript("exec ls /proc/self/fd > local/fds.txt");
  ASSERT_TRUE(Wait(fds.id(), &wait).ok());
  ASSERT_EQ(wait.result().exit_code(), 0);

  std::ifstream ids_file(task_->task_dir() + "/local/ids.txt");
  pid_t pid = 0, pgrp = 0, sid = 0;
  ids_file >> pid >> pgrp >> sid;
  EXPECT_GT(pid, 0);
  EXPECT_EQ(pgrp, pid) << "the task must lead its own process group";
  EXPECT_NE(sid, getsid(0)) << "the task must not share the plugin's (the agent's) session";

  auto read = [this](const std::string& name) {
    std::ifstream in(task_->task_dir() + "/local/" + name);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  const std::string out = read("signals.txt");
  auto mask = [&out](absl::string_view name) -> uint64_t {
    const size_t at = out.find(absl::StrCat(name, ":\t"));
    uint64_t value = ~0ULL;
    if (at != std::string::npos) {
      (void)absl::SimpleHexAtoi(absl::string_view(out).substr(at + name.size() + 2, 16), &value);
    }
    return value;
  };
  constexpr uint64_t kGlibcReserved = (1ULL << 31) | (1ULL << 32);  // signals 32 and 33
  EXPECT_EQ(mask("SigBlk"), 0u) << out;
  EXPECT_EQ(mask("SigIgn") & ~kGlibcReserved, 0u) << out;
  // ls lists 0, 1, 2 and the one it opened to read the directory: an inherited fd shows as a 5th.
  EXPECT_EQ(read("fds.txt"), "0\n1\n2\n3\n");
}

}  // namespace
}  // namespace carp_exec::conformance
