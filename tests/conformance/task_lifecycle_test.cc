// Start, wait, stop, signal, inspect and destroy real tasks (protocol reference §6.2, §7;
// checklist §8.4, §8.5, §8.7, §8.10, §8.11; issue 3).

#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/conformance/lifecycle_support.h"

namespace carp_exec::conformance {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class TaskLifecycleTest : public LifecycleTest {};

TEST_F(TaskLifecycleTest, StartTaskReturnsARunningHandleEchoingTheConfig) {
  drivers::StartTaskResponse response;
  const drivers::TaskConfig task = StartScript("exec sleep 1000", &response);
  const drivers::TaskHandle& handle = response.handle();
  EXPECT_GE(handle.version(), 1) << "version 0 is reserved for pre-0.9 handles";
  EXPECT_EQ(handle.state(), drivers::RUNNING);
  EXPECT_EQ(handle.config().id(), task.id());
  // The client persists this handle; without the config it starts the task twice on restore.
  EXPECT_EQ(handle.config().name(), task.name());
  EXPECT_EQ(handle.config().alloc_id(), task.alloc_id());
  EXPECT_EQ(handle.config().alloc_dir(), task.alloc_dir());
  EXPECT_FALSE(handle.driver_state().empty()) << "driver_state must hold what recovery needs";
  EXPECT_FALSE(response.has_network_override()) << "host networking has no driver network";
}

TEST_F(TaskLifecycleTest, ShortTaskExitsZero) {
  const drivers::TaskConfig task = StartScript("exit 0");
  drivers::WaitTaskResponse wait;
  const grpc::Status status = Wait(task.id(), &wait);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(wait.err().empty()) << wait.err();
  EXPECT_EQ(wait.result().exit_code(), 0);
  EXPECT_EQ(wait.result().signal(), 0);
}

TEST_F(TaskLifecycleTest, ExitCodeIsReported) {
  const drivers::TaskConfig task = StartScript("exit 3");
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait).ok());
  EXPECT_EQ(wait.result().exit_code(), 3);
}

TEST_F(TaskLifecycleTest, OutputReachesTheLogmonFifosAndEnvComesFromTaskConfig) {
  drivers::TaskConfig task =
      MakeTask(ShellConfig("echo \"out:$CARP_CONFORMANCE_VALUE\"; echo err-line >&2"));
  (*task.mutable_env())["CARP_CONFORMANCE_VALUE"] = "from-task-env";
  drivers::StartTaskResponse response;
  ASSERT_TRUE(Start(task, &response).ok());
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait).ok());
  EXPECT_EQ(wait.result().exit_code(), 0);
  EXPECT_TRUE(WaitForStdout("out:from-task-env\n")) << task_->stdout_log()->Contents();
  EXPECT_TRUE(task_->stderr_log()->WaitFor("err-line\n", absl::Now() + absl::Seconds(20)))
      << task_->stderr_log()->Contents();
  EXPECT_TRUE(absl::StrContains(ReadFile(task_->stdout_log()->log_path()), "out:from-task-env"));
}

TEST_F(TaskLifecycleTest, TaskWritesIntoTheSharedAllocDirFromTheTaskDir) {
  const drivers::TaskConfig task =
      StartScript("echo shared > \"$NOMAD_ALLOC_DIR/data/out.txt\"; pwd > pwd.txt");
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait).ok());
  EXPECT_EQ(wait.result().exit_code(), 0);
  EXPECT_EQ(ReadFile(task_->alloc_dir() + "/alloc/data/out.txt"), "shared\n");
  // Without work_dir the task runs in its task dir, as raw_exec does.
  EXPECT_EQ(ReadFile(task_->task_dir() + "/pwd.txt"), task_->task_dir() + "\n");
}

TEST_F(TaskLifecycleTest, WorkDirIsHonoured) {
  CtyValue config = ShellConfig("pwd > \"$NOMAD_ALLOC_DIR/data/pwd.txt\"");
  config.mutable_entries().emplace_back("work_dir", CtyValue::String(task_->task_dir() + "/local"));
  drivers::TaskConfig task = MakeTask(config);
  drivers::StartTaskResponse response;
  ASSERT_TRUE(Start(task, &response).ok());
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait).ok());
  EXPECT_EQ(wait.result().exit_code(), 0);
  EXPECT_EQ(ReadFile(task_->alloc_dir() + "/alloc/data/pwd.txt"), task_->task_dir() + "/local\n");
}

TEST_F(TaskLifecycleTest, SeveralWaitersAllGetTheResultAndLateWaitersAnswerAtOnce) {
  const std::string go = task_->task_dir() + "/local/go";
  const drivers::TaskConfig task =
      StartScript("while [ ! -e local/go ]; do sleep 0.05; done; exit 7");
  std::vector<std::thread> waiters;
  std::vector<drivers::WaitTaskResponse> results(3);
  std::vector<grpc::Status> statuses(3);
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&, i] { statuses[i] = Wait(task.id(), &results[i]); });
  }
  std::ofstream(go).put('x');
  for (std::thread& waiter : waiters) waiter.join();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    EXPECT_EQ(results[i].result().exit_code(), 7) << "waiter " << i;
  }
  drivers::WaitTaskResponse late;
  ASSERT_TRUE(Wait(task.id(), &late, absl::Seconds(5)).ok());
  EXPECT_EQ(late.result().exit_code(), 7);
}

TEST_F(TaskLifecycleTest, CancelledWaitEndsAndThePluginKeepsServing) {
  const drivers::TaskConfig task = StartScript("exec sleep 1000");
  drivers::WaitTaskResponse wait;
  const grpc::Status status = Wait(task.id(), &wait, absl::Milliseconds(300));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  drivers::InspectTaskResponse inspect;
  ASSERT_TRUE(Inspect(task.id(), &inspect).ok());
  EXPECT_EQ(inspect.task().state(), drivers::RUNNING);
}

TEST_F(TaskLifecycleTest, StopWithSigintEndsTheTaskBySignal2) {
  const drivers::TaskConfig task = StartScript("exec sleep 1000");
  const grpc::Status stopped = Stop(task.id(), absl::Seconds(5), "SIGINT");
  ASSERT_TRUE(stopped.ok()) << stopped.error_message();
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait, absl::Seconds(10)).ok());
  EXPECT_EQ(wait.result().signal(), SIGINT);
  drivers::InspectTaskResponse inspect;
  ASSERT_TRUE(Inspect(task.id(), &inspect).ok());
  EXPECT_EQ(inspect.task().state(), drivers::EXITED);
  EXPECT_TRUE(WaitForNoTaskProcesses(absl::Seconds(10)));
}

TEST_F(TaskLifecycleTest, StopWithEmptySignalSendsSigint) {
  const drivers::TaskConfig task =
      StartScript("trap 'echo got-int; exit 5' INT; echo ready; while :; do sleep 0.05; done");
  ASSERT_TRUE(WaitForStdout("ready\n"));
  ASSERT_TRUE(Stop(task.id(), absl::Seconds(10), "").ok());
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait, absl::Seconds(10)).ok());
  EXPECT_EQ(wait.result().exit_code(), 5) << "signal " << wait.result().signal();
  EXPECT_TRUE(WaitForStdout("got-int\n"));
}

TEST_F(TaskLifecycleTest, StopEscalatesToSigkillForATaskIgnoringTheSignal) {
  const drivers::TaskConfig task =
      StartScript("trap '' INT TERM; echo ready; while :; do sleep 0.05; done");
  ASSERT_TRUE(WaitForStdout("ready\n"));
  ASSERT_TRUE(Stop(task.id(), absl::Seconds(1), "SIGTERM").ok());
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait, absl::Seconds(10)).ok());
  EXPECT_EQ(wait.result().signal(), SIGKILL);
  EXPECT_TRUE(WaitForNoTaskProcesses(absl::Seconds(10)))
      << "left: " << absl::StrJoin(TaskProcesses(), ",");
}

TEST_F(TaskLifecycleTest, StopWithZeroTimeoutKillsAtOnce) {
  const drivers::TaskConfig task = StartScript("exec sleep 1000");
  ASSERT_TRUE(Stop(task.id(), absl::ZeroDuration(), "SIGKILL").ok());
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait, absl::Seconds(10)).ok());
  EXPECT_EQ(wait.result().signal(), SIGKILL);
}

// No orphaned grandchildren: background jobs and their children die with the task.
TEST_F(TaskLifecycleTest, StopKillsTheWholeProcessGroup) {
  const drivers::TaskConfig task =
      StartScript("sleep 1000 & (sleep 1000 &); sh -c 'sleep 1000' & echo ready; exec sleep 1000");
  ASSERT_TRUE(WaitForStdout("ready\n"));
  ASSERT_TRUE(Stop(task.id(), absl::Seconds(2), "SIGTERM").ok());
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait, absl::Seconds(10)).ok());
  EXPECT_TRUE(WaitForNoTaskProcesses(absl::Seconds(10)))
      << "left: " << absl::StrJoin(TaskProcesses(), ",");
}

TEST_F(TaskLifecycleTest, StopOfAnExitedTaskSucceeds) {
  const drivers::TaskConfig task = StartScript("exit 0");
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait).ok());
  const grpc::Status stopped = Stop(task.id(), absl::Seconds(1), "SIGINT");
  EXPECT_TRUE(stopped.ok()) << stopped.error_message();
}

TEST_F(TaskLifecycleTest, SignalReachesATrappingScript) {
  const drivers::TaskConfig task =
      StartScript("trap 'echo got-usr1; exit 3' USR1; echo ready; while :; do sleep 0.05; done");
  ASSERT_TRUE(WaitForStdout("ready\n"));
  const grpc::Status signalled = SignalTask(task.id(), "SIGUSR1");
  ASSERT_TRUE(signalled.ok()) << signalled.error_message();
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait, absl::Seconds(20)).ok());
  EXPECT_EQ(wait.result().exit_code(), 3);
  EXPECT_TRUE(WaitForStdout("got-usr1\n")) << task_->stdout_log()->Contents();
}

TEST_F(TaskLifecycleTest, SignalWithAnUnknownNameIsInvalidArgumentNamingIt) {
  const drivers::TaskConfig task = StartScript("exec sleep 1000");
  const grpc::Status status = SignalTask(task.id(), "SIGNOPE");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "SIGNOPE")) << status.error_message();
}

TEST_F(TaskLifecycleTest, InspectReportsRunningThenExitedWithTimes) {
  const std::string go = task_->task_dir() + "/local/go";
  const drivers::TaskConfig task =
      StartScript("while [ ! -e local/go ]; do sleep 0.05; done; exit 4");
  drivers::InspectTaskResponse running;
  ASSERT_TRUE(Inspect(task.id(), &running).ok());
  EXPECT_EQ(running.task().id(), task.id());
  EXPECT_EQ(running.task().state(), drivers::RUNNING);
  // Nomad decodes both timestamps unconditionally; a missing one is an error.
  EXPECT_TRUE(running.task().has_started_at());
  EXPECT_TRUE(running.task().has_completed_at());
  EXPECT_GT(ToTime(running.task().started_at()), absl::Now() - absl::Minutes(5));
  std::ofstream(go).put('x');
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait).ok());
  drivers::InspectTaskResponse exited;
  ASSERT_TRUE(Inspect(task.id(), &exited).ok());
  EXPECT_EQ(exited.task().state(), drivers::EXITED);
  EXPECT_EQ(exited.task().result().exit_code(), 4);
  EXPECT_GE(ToTime(exited.task().completed_at()), ToTime(exited.task().started_at()));
  EXPECT_EQ(ToTime(exited.task().started_at()), ToTime(running.task().started_at()));
}

TEST_F(TaskLifecycleTest, DestroyRunningWithoutForceIsRefused) {
  const drivers::TaskConfig task = StartScript("exec sleep 1000");
  const grpc::Status status = Destroy(task.id(), false);
  EXPECT_FALSE(status.ok()) << "destroyed a running task without force";
  drivers::InspectTaskResponse inspect;
  ASSERT_TRUE(Inspect(task.id(), &inspect).ok());
  EXPECT_EQ(inspect.task().state(), drivers::RUNNING);
}

TEST_F(TaskLifecycleTest, DestroyWithForceKillsEveryTaskProcessAndForgetsTheTask) {
  const drivers::TaskConfig task = StartScript("sleep 1000 & echo ready; exec sleep 1000");
  ASSERT_TRUE(WaitForStdout("ready\n"));
  const grpc::Status status = Destroy(task.id(), true);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(WaitForNoTaskProcesses(absl::Seconds(10)))
      << "left: " << absl::StrJoin(TaskProcesses(), ",");
  drivers::InspectTaskResponse inspect;
  EXPECT_FALSE(Inspect(task.id(), &inspect).ok()) << "a destroyed task is forgotten";
}

TEST_F(TaskLifecycleTest, DestroyOfAnExitedTaskSucceeds) {
  const drivers::TaskConfig task = StartScript("exit 0");
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait).ok());
  const grpc::Status status = Destroy(task.id(), false);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(TaskLifecycleTest, DuplicateTaskIdIsRejected) {
  const drivers::TaskConfig task = StartScript("exec sleep 1000");
  drivers::StartTaskResponse again;
  const grpc::Status status = Start(task, &again);
  EXPECT_FALSE(status.ok()) << "a second StartTask with the same id was accepted";
}

TEST_F(TaskLifecycleTest, UnknownTaskIdsAreErrors) {
  const std::string id = task_->NewTaskId();
  drivers::WaitTaskResponse wait;
  const grpc::Status waited = Wait(id, &wait, absl::Seconds(10));
  EXPECT_TRUE(!waited.ok() || !wait.err().empty()) << "WaitTask on an unknown id succeeded";
  EXPECT_FALSE(Stop(id, absl::Seconds(1), "SIGINT").ok());
  EXPECT_FALSE(Destroy(id, true).ok());
  drivers::InspectTaskResponse inspect;
  EXPECT_FALSE(Inspect(id, &inspect).ok());
  EXPECT_FALSE(SignalTask(id, "SIGHUP").ok());
}

// Invalid task configs fail StartTask at once, naming the option, and are not retried
// (no RecoverableError with recoverable = true).
TEST_F(TaskLifecycleTest, InvalidConfigsAreClearNonRecoverableErrors) {
  struct Case {
    std::string name;
    std::string bytes;
    std::string expect_in_message;
  };
  std::vector<Case> cases;
  auto encode = [this](const CtyValue& value) {
    absl::StatusOr<std::string> bytes = EncodeTaskConfig(*plugin_, value);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.ok() ? *bytes : std::string();
  };
  cases.push_back({"missing command", encode(CtyValue::Map({})), "command"});
  cases.push_back({"relative work_dir",
                   encode(CtyValue::Map({{"command", CtyValue::String("/bin/true")},
                                         {"work_dir", CtyValue::String("relative/dir")}})),
                   "work_dir"});
  cases.push_back({"command not found",
                   encode(CtyValue::Map({{"command", CtyValue::String("/nonexistent/carp")}})),
                   "/nonexistent/carp"});
  absl::StatusOr<std::string> args_number = test_host::EncodeRaw(
      CtyValue::Map({{"args", CtyValue::Int(5)}, {"command", CtyValue::String("/bin/true")}}));
  ASSERT_TRUE(args_number.ok());
  cases.push_back({"args is a number", *args_number, "args"});
  cases.push_back({"not msgpack", std::string("\xc1", 1), ""});
  for (const Case& c : cases) {
    drivers::TaskConfig task = task_->MakeTaskConfig(c.bytes);
    drivers::StartTaskResponse response;
    const grpc::Status status = Start(task, &response);
    EXPECT_FALSE(status.ok()) << c.name << ": StartTask succeeded";
    EXPECT_TRUE(absl::StrContains(status.error_message(), c.expect_in_message))
        << c.name << ": " << status.error_message();
    EXPECT_NE(RecoverableFlag(status), std::optional<bool>(true))
        << c.name << ": a config error would be retried forever";
  }
}

// Events the plugin emits are routed by alloc_id + task_name and need a timestamp.
TEST_F(TaskLifecycleTest, TaskEventsCarryRoutingFields) {
  StreamReader<drivers::DriverTaskEvent> events([this](grpc::ClientContext* context) {
    return plugin_->driver().TaskEvents(context, drivers::TaskEventsRequest());
  });
  const drivers::TaskConfig task = StartScript("exec sleep 1000");
  ASSERT_TRUE(Stop(task.id(), absl::Seconds(2), "SIGTERM").ok());
  ASSERT_TRUE(Destroy(task.id(), true).ok());
  EXPECT_FALSE(events.WaitForEnd(absl::Now() + absl::Milliseconds(200)).has_value());
  for (const drivers::DriverTaskEvent& event : events.Messages()) {
    EXPECT_EQ(event.alloc_id(), task.alloc_id()) << event.message();
    EXPECT_EQ(event.task_name(), task.name()) << event.message();
    EXPECT_TRUE(event.has_timestamp()) << event.message();
    EXPECT_FALSE(event.message().empty());
  }
}

}  // namespace
}  // namespace carp_exec::conformance
