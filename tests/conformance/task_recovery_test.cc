// Tasks outlive the plugin: after a plugin crash and relaunch, RecoverTask with the handle the
// client persisted adopts running tasks and reports the true exit of tasks that ended while
// the plugin was gone (protocol reference §2 "Plugin death", §6.2 RecoverTask; checklist §8.6;
// issue 3 item 4).

#include <signal.h>
#include <sys/stat.h>

#include <climits>
#include <fstream>

#include "absl/strings/str_join.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/conformance/lifecycle_support.h"

namespace carp_exec::conformance {
namespace {

class TaskRecoveryTest : public LifecycleTest {
 protected:
  // The handle as the client restores it after an agent restart: the config without
  // msgpack_driver_config (only exported Go fields are persisted).
  static drivers::TaskHandle AsPersisted(drivers::TaskHandle handle) {
    handle.mutable_config()->clear_msgpack_driver_config();
    return handle;
  }
};

TEST_F(TaskRecoveryTest, RecoverOfAKnownTaskIsANoOp) {
  drivers::StartTaskResponse started;
  const drivers::TaskConfig task = StartScript("exec sleep 1000", &started);
  const grpc::Status status = Recover(started.handle());
  EXPECT_TRUE(status.ok()) << status.error_message();
  drivers::InspectTaskResponse inspect;
  ASSERT_TRUE(Inspect(task.id(), &inspect).ok());
  EXPECT_EQ(inspect.task().state(), drivers::RUNNING);
}

// Agent shutdown (Driver.Shutdown, then the controller) and plugin upgrades must never touch
// tasks: traefik keeps serving while the Nomad client restarts.
TEST_F(TaskRecoveryTest, GracefulPluginShutdownLeavesTasksRunning) {
  drivers::StartTaskResponse started;
  const drivers::TaskConfig task = StartScript("echo ready; exec sleep 1000", &started);
  ASSERT_TRUE(WaitForStdout("ready\n"));
  const std::vector<pid_t> before = TaskProcesses();
  ASSERT_FALSE(before.empty());
  {
    grpc::ClientContext context;
    test_host::SetDeadline(&context, absl::Seconds(2));
    drivers::ShutdownResponse response;
    (void)plugin_->driver().Shutdown(&context, drivers::ShutdownRequest(), &response);
  }
  EXPECT_TRUE(plugin_->Shutdown().exited_in_grace) << plugin_->DescribeExit();
  EXPECT_EQ(TaskProcesses(), before) << "the plugin's shutdown touched the task";

  absl::StatusOr<std::unique_ptr<PluginProcess>> relaunched = LaunchConfiguredPlugin();
  ASSERT_TRUE(relaunched.ok()) << relaunched.status();
  plugin_ = std::move(*relaunched);
  ASSERT_TRUE(Recover(AsPersisted(started.handle())).ok());
  drivers::InspectTaskResponse inspect;
  ASSERT_TRUE(Inspect(task.id(), &inspect).ok());
  EXPECT_EQ(inspect.task().state(), drivers::RUNNING);
  ASSERT_TRUE(Stop(task.id(), absl::Seconds(2), "SIGTERM").ok());
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait, absl::Seconds(10)).ok());
  EXPECT_EQ(wait.result().signal(), SIGTERM);
}

// After an agent crash the new agent reattaches to the live plugin from its reattach record:
// a new connection, PluginInfo, Init, no SetConfig; then RecoverTask for every task.
TEST_F(TaskRecoveryTest, ReattachedAgentSeesTheSameTasksWithoutSetConfig) {
  drivers::StartTaskResponse started;
  const drivers::TaskConfig task = StartScript("exec sleep 1000", &started);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(INT_MAX);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      test_host::GrpcTarget(*plugin_->handshake()), grpc::InsecureChannelCredentials(), args);
  ASSERT_TRUE(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10))));
  auto base_stub = base::BasePlugin::NewStub(channel);
  auto driver_stub = drivers::Driver::NewStub(channel);
  {
    grpc::ClientContext context;
    test_host::SetDeadline(&context, kRpcTimeout);
    base::PluginInfoResponse info;
    ASSERT_TRUE(base_stub->PluginInfo(&context, base::PluginInfoRequest(), &info).ok());
  }
  {
    grpc::ClientContext context;
    test_host::SetDeadline(&context, kRpcTimeout);
    drivers::InitResponse response;
    const grpc::Status init = driver_stub->Init(&context, drivers::InitRequest(), &response);
    EXPECT_TRUE(init.ok() || init.error_code() == grpc::StatusCode::UNIMPLEMENTED)
        << init.error_message();
  }
  {
    drivers::RecoverTaskRequest request;
    *request.mutable_handle() = AsPersisted(started.handle());
    grpc::ClientContext context;
    test_host::SetDeadline(&context, kRpcTimeout);
    drivers::RecoverTaskResponse response;
    const grpc::Status recovered = driver_stub->RecoverTask(&context, request, &response);
    EXPECT_TRUE(recovered.ok()) << recovered.error_message();
  }
  drivers::InspectTaskRequest request;
  request.set_task_id(task.id());
  grpc::ClientContext context;
  test_host::SetDeadline(&context, kRpcTimeout);
  drivers::InspectTaskResponse inspect;
  ASSERT_TRUE(driver_stub->InspectTask(&context, request, &inspect).ok());
  EXPECT_EQ(inspect.task().state(), drivers::RUNNING);
}

TEST_F(TaskRecoveryTest, RunningTaskIsAdoptedAfterPluginSigkill) {
  drivers::StartTaskResponse started;
  const drivers::TaskConfig task =
      StartScript("trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.05; done", &started);
  ASSERT_TRUE(WaitForStdout("ready\n"));
  drivers::InspectTaskResponse before;
  ASSERT_TRUE(Inspect(task.id(), &before).ok());

  CrashAndRelaunchPlugin();
  ASSERT_FALSE(TaskProcesses().empty()) << "the task died with the plugin";

  const grpc::Status recovered = Recover(AsPersisted(started.handle()));
  ASSERT_TRUE(recovered.ok()) << recovered.error_message();
  drivers::InspectTaskResponse after;
  ASSERT_TRUE(Inspect(task.id(), &after).ok());
  EXPECT_EQ(after.task().state(), drivers::RUNNING);
  EXPECT_EQ(ToTime(after.task().started_at()), ToTime(before.task().started_at()));

  // The adopted task is fully controllable: signals, stop, wait.
  ASSERT_TRUE(SignalTask(task.id(), "SIGUSR1").ok());
  EXPECT_TRUE(WaitForStdout("got-usr1\n"));
  ASSERT_TRUE(Stop(task.id(), absl::Seconds(5), "SIGKILL").ok());
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait, absl::Seconds(10)).ok());
  EXPECT_EQ(wait.result().signal(), SIGKILL);
  EXPECT_TRUE(WaitForNoTaskProcesses(absl::Seconds(10)));
}

TEST_F(TaskRecoveryTest, TaskThatExitedWhileThePluginWasDownReportsItsTrueExit) {
  drivers::StartTaskResponse started;
  const drivers::TaskConfig task =
      StartScript("while [ ! -e local/go ]; do sleep 0.05; done; exit 42", &started);
  plugin_->Kill();
  std::ofstream(task_->task_dir() + "/local/go").put('x');
  ASSERT_TRUE(WaitForNoTaskProcesses(absl::Seconds(20))) << "the task did not finish";

  absl::StatusOr<std::unique_ptr<PluginProcess>> relaunched = LaunchConfiguredPlugin();
  ASSERT_TRUE(relaunched.ok()) << relaunched.status();
  plugin_ = std::move(*relaunched);
  const grpc::Status recovered = Recover(AsPersisted(started.handle()));
  ASSERT_TRUE(recovered.ok()) << recovered.error_message();
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait, absl::Seconds(10)).ok());
  EXPECT_TRUE(wait.err().empty()) << wait.err();
  EXPECT_EQ(wait.result().exit_code(), 42);
  drivers::InspectTaskResponse inspect;
  ASSERT_TRUE(Inspect(task.id(), &inspect).ok());
  EXPECT_EQ(inspect.task().state(), drivers::EXITED);
}

TEST_F(TaskRecoveryTest, RecoverUsesTheHandleConfigIdWhenTaskIdIsEmpty) {
  drivers::StartTaskResponse started;
  const drivers::TaskConfig task = StartScript("exec sleep 1000", &started);
  CrashAndRelaunchPlugin();
  ASSERT_TRUE(Recover(AsPersisted(started.handle()), "").ok());
  drivers::InspectTaskResponse inspect;
  ASSERT_TRUE(Inspect(task.id(), &inspect).ok());
  EXPECT_EQ(inspect.task().id(), task.id());
}

// The per-task supervisor is killed (OOM killer, an operator's kill -9): the plugin must not
// leave WaitTask hanging forever, and DestroyTask(force) must still kill the task.
TEST_F(TaskRecoveryTest, SupervisorDeathEndsWaitWithAnErrorAndDestroyKillsTheTask) {
#if !defined(__linux__)
  GTEST_SKIP() << "finds the supervisor through /proc";
#endif
  const drivers::TaskConfig task = StartScript("echo ready; exec sleep 1000");
  ASSERT_TRUE(WaitForStdout("ready\n"));
  // Supervisors are this binary re-run with their task's state directory in argv.
  const std::vector<pid_t> supervisors = test_host::ProcessesWithCmdline(state_.path());
  ASSERT_EQ(supervisors.size(), 1u) << "expected one supervisor naming " << state_.path();
  ASSERT_TRUE(test_host::KillProcesses(supervisors, absl::Seconds(10)).empty());
  if (subreaper_) test_host::ReapExitedChildren({});

  drivers::WaitTaskResponse wait;
  const grpc::Status waited = Wait(task.id(), &wait, absl::Seconds(30));
  EXPECT_NE(waited.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << "WaitTask still blocked 30 s after the supervisor died";
  if (waited.ok()) {
    EXPECT_TRUE(!wait.err().empty() || wait.result().exit_code() != 0)
        << "a lost supervisor was reported as a clean exit";
  }
  (void)Destroy(task.id(), true);
  EXPECT_TRUE(WaitForNoTaskProcesses(absl::Seconds(10)))
      << "the orphaned task survived DestroyTask(force)";
}

// A handle whose process is gone and whose recorded status is lost cannot be recovered; the
// error makes Nomad destroy the task and reschedule it instead of waiting forever.
TEST_F(TaskRecoveryTest, HandleWithNoProcessAndNoStatusIsAnError) {
  if (!subreaper_) GTEST_SKIP() << "needs a subreaper to kill the orphaned supervisor";
  drivers::StartTaskResponse started;
  StartScript("exec sleep 1000", &started);
  plugin_->Kill();
  // Supervisors and tasks are now orphans of this test: kill them all, then lose the state.
  test_host::KillProcesses(TaskProcesses(), absl::Seconds(10));
  test_host::KillAndReapChildren({}, absl::Seconds(10));
  ASSERT_TRUE(test_host::RemoveTree(state_.path()).ok());
  ASSERT_EQ(mkdir(state_.path().c_str(), 0700), 0);
  absl::StatusOr<std::unique_ptr<PluginProcess>> relaunched = LaunchConfiguredPlugin();
  ASSERT_TRUE(relaunched.ok()) << relaunched.status();
  plugin_ = std::move(*relaunched);
  const grpc::Status recovered = Recover(AsPersisted(started.handle()));
  EXPECT_FALSE(recovered.ok()) << "recovered a task that no longer exists anywhere";
}

TEST_F(TaskRecoveryTest, GarbageDriverStateIsAnError) {
  drivers::StartTaskResponse started;
  StartScript("exec sleep 1000", &started);
  drivers::TaskHandle forged = started.handle();
  forged.mutable_config()->set_id(task_->NewTaskId());
  forged.set_driver_state("not a driver state");
  EXPECT_FALSE(Recover(forged).ok());
}

}  // namespace
}  // namespace carp_exec::conformance
