// Issue 9, attack 1 and its relatives: a job (or an `alloc exec` client) names a path that
// leads out of the task dir. The plugin runs as root; before the fix, the lookup followed `../`
// and symlinks and chmod'ed what it found (mode | 0555), before the user check. Each test runs
// the real plugin through the test host and asserts the victim file keeps its mode and content.

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/conformance/lifecycle_support.h"
#include "tests/security/security_support.h"

namespace carp_exec::security {
namespace {

using conformance::CtyValue;
using conformance::LifecycleTest;
namespace drivers = conformance::drivers;

class CommandPathAttackTest : public LifecycleTest {
 protected:
  // StartTask with {command = command}; the status, which the test expects to be a refusal.
  grpc::Status StartCommand(const std::string& command, const std::string& user = "",
                            std::vector<CtyValue::Entry> extra = {}) {
    std::vector<CtyValue::Entry> config{{"command", CtyValue::String(command)}};
    for (auto& entry : extra) config.push_back(std::move(entry));
    drivers::TaskConfig task = MakeTask(CtyValue::Map(std::move(config)));
    task.set_user(user);
    drivers::StartTaskResponse response;
    return Start(task, &response);
  }
  std::string Local(const std::string& name) const { return task_->task_dir() + "/local/" + name; }
};

TEST_F(CommandPathAttackTest, CommandClimbingOutOfTheTaskDirIsRefusedAndNothingIsChmodded) {
  Victim victim(0600);  // root-only: the old lookup made it 0755
  const std::string climb = ClimbTo(task_->task_dir(), victim.path());
  for (const std::string& command : {climb, "local/../" + climb, "../" + climb}) {
    const grpc::Status status = StartCommand(command);
    EXPECT_FALSE(status.ok()) << command;
    EXPECT_TRUE(absl::StrContains(status.error_message(), "outside")) << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), "command")) << status.error_message();
  }
  EXPECT_EQ(victim.Harm(), "");
  // The literal attack, tried only once the same shape was refused for the victim
  // above (a regression must never chmod this machine's real /etc/shadow).
  if (victim.Harm().empty() && access("/etc/shadow", F_OK) == 0) {
    const mode_t before = ModeOf("/etc/shadow");
    EXPECT_FALSE(StartCommand("../../../../../../../../etc/shadow").ok());
    EXPECT_EQ(ModeOf("/etc/shadow"), before);
  }
  EXPECT_TRUE(plugin_->running());
}

TEST_F(CommandPathAttackTest, SymlinkInLocalPointingOutsideIsRefused) {
  Victim victim(0644);  // readable but not executable: the old lookup added 0111
  ASSERT_EQ(symlink(victim.path().c_str(), Local("tool").c_str()), 0);
  ASSERT_EQ(symlink(ClimbTo(task_->task_dir() + "/local", victim.path()).c_str(),
                    Local("relative-tool").c_str()),
            0);
  for (const char* command : {"tool", "local/tool", "relative-tool", "local/relative-tool"}) {
    const grpc::Status status = StartCommand(command);
    EXPECT_FALSE(status.ok()) << command;
    EXPECT_TRUE(absl::StrContains(status.error_message(), "outside")) << status.error_message();
  }
  EXPECT_EQ(victim.Harm(), "");
}

TEST_F(CommandPathAttackTest, DeniedUserWithAHostilePathTouchesNoFile) {
  RelaunchPluginWith({{"denied_host_uids", CtyValue::String("65534")}});
  Victim victim(0644);
  const grpc::Status status = StartCommand(ClimbTo(task_->task_dir(), victim.path()), "65534");
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.error_message(), "denied_host_uids"))
      << "the user check must come first: " << status.error_message();
  EXPECT_EQ(victim.Harm(), "");
}

TEST_F(CommandPathAttackTest, ArtifactWithoutExecBitIsAJobErrorNotAChmod) {
  WriteFile(Local("app"), "#!/bin/sh\necho should-not-run\n", 0644);
  const grpc::Status status = StartCommand("local/app");
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.error_message(), "no execute permission"))
      << status.error_message();
  EXPECT_EQ(ModeOf(Local("app")), 0644u);
}

// Beyond the issue: things planted in local/ that could stall or loop the root-side lookup.
// A FIFO is only stat'ed (opening it would block a pool thread); a symlink loop ends at the
// symlink bound; both fail fast with an error naming the command.
TEST_F(CommandPathAttackTest, FifoOrSymlinkLoopAsCommandFailsFast) {
  ASSERT_EQ(mkfifo(Local("fifo").c_str(), 0755), 0);
  ASSERT_EQ(symlink("loop-b", Local("loop-a").c_str()), 0);
  ASSERT_EQ(symlink("loop-a", Local("loop-b").c_str()), 0);
  for (const char* command : {"fifo", "local/fifo", "loop-a"}) {
    const grpc::Status status = StartCommand(command);
    EXPECT_FALSE(status.ok()) << command;
    EXPECT_TRUE(absl::StrContains(status.error_message(), command)) << status.error_message();
    EXPECT_NE(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << command;
  }
  EXPECT_TRUE(plugin_->running());
}

// Compatibility: symlinks that stay inside (an unpacked release with a "current" link) and
// relative names still work like raw_exec.
TEST_F(CommandPathAttackTest, SymlinksInsideTheTaskDirStillWork) {
  WriteFile(Local("app-1.0"), "#!/bin/sh\necho legit-run-ok\n", 0755);
  ASSERT_EQ(symlink("app-1.0", Local("app").c_str()), 0);
  drivers::TaskConfig task = MakeTask(CtyValue::Map({{"command", CtyValue::String("app")}}));
  drivers::StartTaskResponse response;
  const grpc::Status status = Start(task, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(WaitForStdout("legit-run-ok"));
}

// An empty PATH entry means the task's dir, never the plugin's working directory: not for the
// task's command, and not for `alloc exec` (where the old lookup used the plugin's cwd).
TEST_F(CommandPathAttackTest, EmptyPathEntryNeverFindsThePluginsWorkingDirectory) {
  char link[PATH_MAX];
  const ssize_t n =
      readlink(absl::StrCat("/proc/", plugin_->pid(), "/cwd").c_str(), link, sizeof(link) - 1);
  if (n <= 0) GTEST_SKIP() << "needs /proc to find the plugin's cwd";
  const std::string probe = std::string(link, static_cast<size_t>(n)) + "/carp-sec-cwd-probe";
  WriteFile(probe, "#!/bin/sh\necho found-in-plugin-cwd\n", 0755);
  struct RemoveProbe {
    std::string path;
    ~RemoveProbe() { unlink(path.c_str()); }
  } remove_probe{probe};

  drivers::TaskConfig task =
      MakeTask(CtyValue::Map({{"command", CtyValue::String("carp-sec-cwd-probe")}}));
  (*task.mutable_env())["PATH"] = ":.:/usr/bin:/bin";
  drivers::StartTaskResponse response;
  const grpc::Status status = Start(task, &response);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.error_message(), "no such command"))
      << status.error_message();

  drivers::TaskConfig running = MakeTask(conformance::ShellConfig("exec sleep 1000"));
  (*running.mutable_env())["PATH"] = ":/usr/bin:/bin";
  ASSERT_TRUE(Start(running, &response).ok());
  drivers::ExecTaskRequest request;
  request.set_task_id(running.id());
  request.add_command("carp-sec-cwd-probe");
  *request.mutable_timeout() = conformance::ToProtoDuration(absl::Seconds(10));
  grpc::ClientContext context;
  test_host::SetDeadline(&context, absl::Seconds(30));
  drivers::ExecTaskResponse exec;
  const grpc::Status exec_status = plugin_->driver().ExecTask(&context, request, &exec);
  EXPECT_FALSE(exec_status.ok()) << "ran from the plugin's cwd: " << exec.stdout();
  // The old lookup found the probe in the plugin's cwd and then failed in execve; the lookup
  // itself must not find it.
  EXPECT_TRUE(absl::StrContains(exec_status.error_message(), "not found in PATH"))
      << exec_status.error_message();
  EXPECT_FALSE(absl::StrContains(exec.stdout(), "found-in-plugin-cwd"));
}

// `alloc exec` lookups follow the same rules: a relative command stays beneath the work dir.
TEST_F(CommandPathAttackTest, ExecSessionCommandCannotLeaveTheTaskDir) {
  Victim victim(0644);
  drivers::TaskConfig task = StartScript("exec sleep 1000");
  ASSERT_EQ(symlink(victim.path().c_str(), Local("exec-link").c_str()), 0);
  for (const std::string& command :
       {ClimbTo(task_->task_dir(), victim.path()), std::string("local/exec-link")}) {
    drivers::ExecTaskRequest request;
    request.set_task_id(task.id());
    request.add_command(command);
    *request.mutable_timeout() = conformance::ToProtoDuration(absl::Seconds(10));
    grpc::ClientContext context;
    test_host::SetDeadline(&context, absl::Seconds(30));
    drivers::ExecTaskResponse response;
    const grpc::Status status = plugin_->driver().ExecTask(&context, request, &response);
    EXPECT_FALSE(status.ok()) << command;
    EXPECT_TRUE(absl::StrContains(status.error_message(), "outside")) << status.error_message();
  }
  EXPECT_EQ(victim.Harm(), "");
}

// The supervisor enters work_dir as the task user: a root-only directory named by the job is
// refused to nobody (root used to chdir first, then drop privileges).
TEST_F(CommandPathAttackTest, WorkDirIsEnteredWithTheTaskUsersRights) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run a task as another user";
  conformance::TempDir root_only;  // mkdtemp: 0700 root
  const grpc::Status status =
      StartCommand("/bin/true", "65534", {{"work_dir", CtyValue::String(root_only.path())}});
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.error_message(), "work_dir")) << status.error_message();
}

// The log FIFO path is in the alloc dir, which tasks can write: a symlink or a plain file
// planted there must not make root append task output to another file.
TEST_F(CommandPathAttackTest, LogFifoReplacedByASymlinkOrFileIsRefused) {
  Victim victim(0644);
  const std::string link = task_->shared_alloc_dir() + "/logs/.planted.stdout.fifo";
  ASSERT_EQ(symlink(victim.path().c_str(), link.c_str()), 0);
  drivers::TaskConfig task = MakeTask(conformance::ShellConfig("echo overwritten"));
  task.set_stdout_path(link);
  drivers::StartTaskResponse response;
  grpc::Status status = Start(task, &response);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.error_message(), "symlink")) << status.error_message();
  task = MakeTask(conformance::ShellConfig("echo overwritten >&2"));
  task.set_stderr_path(victim.path());
  status = Start(task, &response);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.error_message(), "not a FIFO")) << status.error_message();
  EXPECT_EQ(victim.Harm(), "");
}

}  // namespace
}  // namespace carp_exec::security
