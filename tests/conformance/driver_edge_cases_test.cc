// Edge cases of the integration layer (driver/driver.cc, driver/service, driver/host), each a
// regression test for a bug found in review: activation against a concurrent Driver.Shutdown,
// a disabled plugin's running tasks, ExecTask's output bound, streams at plugin shutdown, and
// exec streams cancelled while their command starts.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/conformance/lifecycle_support.h"

namespace carp_exec::conformance {
namespace {

using test_host::SetDeadline;

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool WaitForFile(const std::string& path, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!Exists(path)) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

void Touch(const std::string& path) { std::ofstream(path) << "\n"; }

// A failover block whose demote command blocks until `<dir>/go` exists (at most the backend's
// 10 s command bound), after creating `<dir>/demoting`. The coordinator runs it while the
// runtime activates: no guarded task lives, so the node is demoted at plugin start.
CtyValue BlockingFailover(const std::string& dir) {
  const std::string demote =
      absl::StrCat("touch ", dir, "/demoting; while [ ! -e ", dir, "/go ]; do sleep 0.02; done");
  return CtyValue::Map({
      {"backend", CtyValue::String("command")},
      {"demote_command", CtyValue::StringList({"/bin/sh", "-c", demote})},
      {"restore_command", CtyValue::StringList({"/bin/true"})},
      {"state_command", CtyValue::StringList({"/bin/echo", "BACKUP"})},
  });
}

// Activation runs the failover backend's tools; it must not hold the driver's lock meanwhile,
// so Driver.Shutdown (2 s deadline at agent shutdown) answers while a slow tool runs, and a
// StartTask refused because of the shutdown is one Nomad retries.
TEST(DriverActivationTest, ShutdownDuringASlowActivationAnswersAtOnce) {
  TempDir state;
  absl::StatusOr<std::unique_ptr<PluginProcess>> started = PluginProcess::Start();
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<PluginProcess> plugin = std::move(*started);

  // The validation launch's bare SetConfig must not activate (no demotion, no state dir).
  const absl::Status configured =
      SetConfig(*plugin,
                CtyValue::Map({{"state_dir", CtyValue::String(state.path())},
                               {"failover", BlockingFailover(state.path())}}),
                /*nomad_config=*/nullptr);
  ASSERT_TRUE(configured.ok()) << configured;
  EXPECT_FALSE(Exists(state.path() + "/demoting")) << "a bare SetConfig activated the runtime";
  EXPECT_FALSE(Exists(state.path() + "/tasks")) << "a bare SetConfig created the state dir";

  grpc::Status init_status;
  std::thread init([&] {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(30));
    drivers::InitResponse response;
    init_status = plugin->driver().Init(&context, drivers::InitRequest(), &response);
  });
  ASSERT_TRUE(WaitForFile(state.path() + "/demoting", absl::Seconds(10)))
      << "Init did not start the failover runtime";

  grpc::Status shutdown;
  {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(5));
    drivers::ShutdownResponse response;
    shutdown = plugin->driver().Shutdown(&context, drivers::ShutdownRequest(), &response);
  }
  EXPECT_TRUE(shutdown.ok()) << "Driver.Shutdown waited for the activation: "
                             << shutdown.error_code() << " " << shutdown.error_message();

  drivers::StartTaskRequest request;
  request.mutable_task()->set_id("alloc/task/0000000a");
  request.mutable_task()->set_name("task");
  grpc::Status start;
  {
    // Well below the demote command's 10 s bound: refusing must not wait for the activation.
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(5));
    drivers::StartTaskResponse response;
    start = plugin->driver().StartTask(&context, request, &response);
  }
  EXPECT_FALSE(start.ok());
  EXPECT_EQ(RecoverableFlag(start), std::optional<bool>(true))
      << "a StartTask refused during shutdown must be retried: " << start.error_message();

  Touch(state.path() + "/go");
  init.join();
  EXPECT_FALSE(init_status.ok()) << "an activation overtaken by Shutdown reported success";
  EXPECT_TRUE(plugin->Shutdown().exited_in_grace) << plugin->DescribeExit();
}

class DriverEdgeCasesTest : public LifecycleTest {
 protected:
  grpc::Status Exec(const std::string& id, std::vector<std::string> command,
                    drivers::ExecTaskResponse* response) {
    drivers::ExecTaskRequest request;
    request.set_task_id(id);
    for (std::string& arg : command) request.add_command(std::move(arg));
    *request.mutable_timeout() = ToProtoDuration(absl::Seconds(20));
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(60));
    return plugin_->driver().ExecTask(&context, request, response);
  }
};

// raw_exec refuses only new tasks when disabled; the running ones stay manageable. Refusing
// RecoverTask and DestroyTask would leave them running with nobody to stop them.
TEST_F(DriverEdgeCasesTest, DisabledPluginStillRecoversStopsAndDestroysItsTasks) {
  drivers::StartTaskResponse started;
  const drivers::TaskConfig task = StartScript("exec sleep 1000", &started);
  RelaunchPluginWith({{"enabled", CtyValue::Bool(false)}});
  const grpc::Status recovered = Recover(started.handle());
  ASSERT_TRUE(recovered.ok()) << recovered.error_message();
  const grpc::Status stopped = Stop(task.id(), absl::Seconds(5), "SIGTERM");
  ASSERT_TRUE(stopped.ok()) << stopped.error_message();
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait, absl::Seconds(10)).ok());
  EXPECT_EQ(wait.result().signal(), SIGTERM);
  const grpc::Status destroyed = Destroy(task.id(), true);
  EXPECT_TRUE(destroyed.ok()) << destroyed.error_message();
  EXPECT_TRUE(WaitForNoTaskProcesses(absl::Seconds(10)));
}

// Script checks: like raw_exec, stdout carries stdout and stderr merged, only the last 4 KiB.
TEST_F(DriverEdgeCasesTest, ExecTaskKeepsTheLastFourKiBOfMergedOutputLikeRawExec) {
  const drivers::TaskConfig task = StartScript("exec sleep 1000");
  drivers::ExecTaskResponse response;
  const grpc::Status status = Exec(task.id(),
                                   {"/bin/sh", "-c",
                                    "i=0; while [ $i -lt 300 ]; do echo line-$i-of-padding-text; "
                                    "i=$((i+1)); done; echo the-end >&2; exit 3"},
                                   &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.result().exit_code(), 3);
  EXPECT_EQ(response.stdout().size(), 4096u);
  EXPECT_TRUE(absl::EndsWith(response.stdout(), "line-299-of-padding-text\nthe-end\n"))
      << response.stdout().substr(response.stdout().size() - 100);
  EXPECT_TRUE(response.stderr().empty()) << response.stderr();
}

// The controller's Shutdown with the driver manager's streams open: the plugin ends them
// itself (status OK) before the server stops, instead of leaving them to be cancelled at the
// server's shutdown deadline.
TEST_F(DriverEdgeCasesTest, ControllerShutdownEndsOpenStreamsCleanly) {
  auto fingerprint = std::make_unique<StreamReader<drivers::FingerprintResponse>>(
      [this](grpc::ClientContext* context) {
        return plugin_->driver().Fingerprint(context, drivers::FingerprintRequest());
      });
  auto events = std::make_unique<StreamReader<drivers::DriverTaskEvent>>(
      [this](grpc::ClientContext* context) {
        return plugin_->driver().TaskEvents(context, drivers::TaskEventsRequest());
      });
  ASSERT_TRUE(fingerprint->WaitForMessage(0, absl::Now() + absl::Seconds(10)).has_value());
  // TaskEvents sends nothing until an event happens: wait until the plugin has opened it.
  ASSERT_TRUE(events->WaitEstablished(absl::Now() + absl::Seconds(10)));
  const test_host::ShutdownReport report = plugin_->Shutdown();
  EXPECT_TRUE(report.exited_in_grace) << plugin_->DescribeExit();
  const std::optional<grpc::Status> fingerprint_end =
      fingerprint->WaitForEnd(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(fingerprint_end.has_value());
  EXPECT_TRUE(fingerprint_end->ok())
      << fingerprint_end->error_code() << " " << fingerprint_end->error_message();
  const std::optional<grpc::Status> events_end = events->WaitForEnd(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(events_end.has_value());
  EXPECT_TRUE(events_end->ok()) << events_end->error_code() << " " << events_end->error_message();
  // The fixture's TearDown talks to the plugin; give it a live one.
  absl::StatusOr<std::unique_ptr<PluginProcess>> relaunched = LaunchConfiguredPlugin();
  ASSERT_TRUE(relaunched.ok()) << relaunched.status();
  plugin_ = std::move(*relaunched);
}

// `nomad alloc exec` closed by the client at once, while the plugin is still starting the
// command: every command is killed, none is left running in the task's context.
TEST_F(DriverEdgeCasesTest, ExecStreamsCancelledWhileStartingLeaveNoCommandBehind) {
  const drivers::TaskConfig task = StartScript("exec sleep 1000");
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(20));
    auto stream = plugin_->driver().ExecTaskStreaming(&context);
    drivers::ExecTaskStreamingRequest setup;
    setup.mutable_setup()->set_task_id(task.id());
    for (const char* arg : {"/bin/sh", "-c", "exec sleep 999"}) {
      setup.mutable_setup()->add_command(arg);
    }
    setup.mutable_setup()->set_tty(i % 2 == 1);
    stream->Write(setup);
    if (i % 4 == 0) absl::SleepFor(absl::Milliseconds(50));  // sometimes after the start
    context.TryCancel();
    (void)stream->Finish();
  }
  // Only the task itself (one process) may remain.
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  std::vector<pid_t> left = TaskProcesses();
  while (left.size() > 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
    left = TaskProcesses();
  }
  EXPECT_EQ(left.size(), 1u) << "exec commands outlived their cancelled streams";
  drivers::InspectTaskResponse inspect;
  ASSERT_TRUE(Inspect(task.id(), &inspect).ok()) << "the plugin stopped answering";
  EXPECT_EQ(inspect.task().state(), drivers::RUNNING);
}

}  // namespace
}  // namespace carp_exec::conformance
