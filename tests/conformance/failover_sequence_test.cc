// Nomad's own sequences around a guarded task, played against the real plugin binary.
//
// A plugin crash during a hand-over (issue 10.3): Nomad sees ErrPluginShutdown on WaitTask,
// relaunches the plugin and calls RecoverTask at once, then runs its kill again, after the
// job's shutdown_delay (client/allocrunner/taskrunner/task_runner.go: handleTaskExitResult →
// initDriver + restoreHandle → goto WAIT → handleKill → killTask). Between the crash and the
// end of the stop, this node must never be restored: the VIP would come back to a node whose
// task is being stopped, then leave again.

#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/conformance/lifecycle_support.h"

namespace carp_exec::conformance {
namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool WaitForCount(const std::string& path, const std::string& word, int count,
                  absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int seen = 0;
    std::istringstream lines(ReadText(path));
    for (std::string line; std::getline(lines, line);) seen += line == word;
    if (seen >= count) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

class FailoverSequenceTest : public LifecycleTest {
 protected:
  // A command backend whose node stays MASTER (the peer never takes over, so each hand-over
  // waits confirm_timeout) and that logs every demote and restore it is asked for.
  std::vector<CtyValue::Entry> FailoverOptions() const {
    const std::string log = Log();
    return {{"failover",
             CtyValue::Map({
                 {"backend", CtyValue::String("command")},
                 {"demote_command",
                  CtyValue::StringList({"/bin/sh", "-c", absl::StrCat("echo demote >> ", log)})},
                 {"restore_command",
                  CtyValue::StringList({"/bin/sh", "-c", absl::StrCat("echo restore >> ", log)})},
                 {"state_command", CtyValue::StringList({"/bin/echo", "MASTER"})},
                 {"confirm_timeout", CtyValue::String("3s")},
                 {"poll_interval", CtyValue::String("50ms")},
                 {"recover_stop_grace", CtyValue::String("1m")},
             })}};
  }
  std::string Log() const { return state_.path() + "/backend.log"; }
};

TEST_F(FailoverSequenceTest, PluginCrashMidHandOverNeverRestoresBeforeTheResentStop) {
  RelaunchPluginWith(FailoverOptions());
  drivers::StartTaskResponse started;
  const drivers::TaskConfig task = MakeTask(CtyValue::Map(
      {{"command", CtyValue::String("/bin/sh")},
       {"args", CtyValue::StringList({"-c", "echo ready; while :; do sleep 0.05; done"})},
       {"failover", CtyValue::Bool(true)}}));
  ASSERT_TRUE(Start(task, &started).ok());
  ASSERT_TRUE(WaitForStdout("ready\n"));
  // Demoted at plugin start (nothing guarded ran), restored once the task runs (no ready block).
  ASSERT_TRUE(WaitForCount(Log(), "restore", 1, absl::Seconds(10))) << ReadText(Log());

  // StopTask: the hand-over demotes, then waits for a move that never comes (3 s).
  std::thread first_stop([&] { (void)Stop(task.id(), absl::Seconds(5), "SIGTERM"); });
  ASSERT_TRUE(WaitForCount(Log(), "demote", 2, absl::Seconds(10))) << ReadText(Log());
  plugin_->Kill();  // the plugin crashes mid-hand-over
  first_stop.join();
  const std::string before = ReadText(Log());

  // Nomad relaunches the plugin and recovers the task at once.
  absl::StatusOr<std::unique_ptr<PluginProcess>> relaunched =
      LaunchConfiguredPlugin(FailoverOptions());
  ASSERT_TRUE(relaunched.ok()) << relaunched.status();
  plugin_ = std::move(*relaunched);
  drivers::TaskHandle handle = started.handle();
  handle.mutable_config()->clear_msgpack_driver_config();  // as the client persists it
  ASSERT_TRUE(Recover(handle).ok());
  ASSERT_FALSE(TaskProcesses().empty()) << "the task died with the plugin";
  // Nomad's kill comes after shutdown_delay; before it, the still-serving task must not
  // bring the VIP back.
  absl::SleepFor(absl::Seconds(1));
  EXPECT_FALSE(absl::StrContains(ReadText(Log()).substr(before.size()), "restore"))
      << "the node was restored between the crash and the re-sent StopTask:\n"
      << ReadText(Log());

  ASSERT_TRUE(Stop(task.id(), absl::Seconds(5), "SIGTERM").ok());
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait, absl::Seconds(20)).ok());
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(absl::StrContains(ReadText(Log()).substr(before.size()), "restore"))
      << "the node was restored although its guarded task was stopped:\n"
      << ReadText(Log());
}

}  // namespace
}  // namespace carp_exec::conformance
