// Issue 9, attacks 3, 4 and 7 (files): planted symlinks where the plugin writes its records or
// keepalived's track_file, a state_dir other users can write, a task dir swapped for a symlink
// before DestroyTask, and a RecoverTask handle that names someone else's process group or
// directory. Each runs the real plugin (or `carp_exec check --live`) and checks the victim
// and the plugin are unharmed.

#include <sys/stat.h>
#include <sys/wait.h>  // WIFEXITED/WEXITSTATUS: not from <cstdlib> on the BSDs
#include <unistd.h>

#include <csignal>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "carp_exec/driver_state.pb.h"
#include "gtest/gtest.h"
#include "tests/conformance/lifecycle_support.h"
#include "tests/security/security_support.h"

namespace carp_exec::security {
namespace {

using conformance::CtyValue;
using conformance::LifecycleTest;
using conformance::PluginProcess;
using conformance::TempDir;
namespace drivers = conformance::drivers;

struct Ran {
  std::string out;
  int exit_code = -1;
};

// `carp_exec <args>` as an operator runs it; bounded.
Ran RunOperator(std::vector<std::string> args) {
  test_host::LaunchOptions options;
  options.args = std::move(args);
  options.magic_cookie = std::nullopt;
  Ran ran;
  absl::StatusOr<std::unique_ptr<PluginProcess>> process = PluginProcess::Spawn(options);
  if (!process.ok()) return ran;
  if (!(*process)->WaitForExit(absl::Seconds(60))) return ran;
  (*process)->output().WaitForEof(absl::Now() + absl::Seconds(5));
  ran.out = absl::StrCat((*process)->output().StdoutBytes(),
                         absl::StrJoin((*process)->StderrLines(), "\n"));
  const std::optional<int> status = (*process)->exit_status();
  if (status.has_value() && WIFEXITED(*status)) ran.exit_code = WEXITSTATUS(*status);
  return ran;
}

std::vector<std::string> LiveCheckArgs(const std::string& dir, const std::string& track_file) {
  return {"check",
          "--backend=keepalived",
          "--track_file=" + track_file,
          "--state_file=" + dir + "/vrrp-state",
          "--state_dir=" + dir + "/state",
          "--live",
          "--demote_by=50",  // fixed here: the keepalived default follows handover (253)
          "--confirm_timeout=300ms",
          "--poll_interval=50ms"};
}

// Attack 3: the crash-safe writer used a fixed `<file>.tmp` opened with O_TRUNC and no
// O_NOFOLLOW; a symlink there made `check --live` overwrite the file it pointed at.
TEST(StateFileAttackTest, PlantedTempSymlinksCannotRedirectCheckLiveWrites) {
  TempDir dir;
  Victim victim(0600);
  ASSERT_EQ(mkdir((dir.path() + "/state").c_str(), 0700), 0);
  ASSERT_EQ(mkdir((dir.path() + "/state/failover").c_str(), 0700), 0);
  WriteFile(dir.path() + "/vrrp-state", "MASTER\n", 0644);
  const std::string track = dir.path() + "/track";
  for (const std::string& planted : {track + ".tmp", dir.path() + "/state/failover/ledger.tmp"}) {
    ASSERT_EQ(symlink(victim.path().c_str(), planted.c_str()), 0);
  }
  const Ran ran = RunOperator(LiveCheckArgs(dir.path(), track));
  // The cycle ran: it demoted and restored through the track file (unconfirmed: no peer).
  EXPECT_TRUE(absl::StrContains(ran.out, "demoted track_file")) << ran.out;
  EXPECT_TRUE(absl::StrContains(ran.out, "restored demote count 50")) << ran.out;
  EXPECT_EQ(ReadFile(track), "0\n");
  EXPECT_EQ(victim.Harm(), "");
}

TEST(StateFileAttackTest, TrackFileThatIsASymlinkIsRefusedNotWrittenThrough) {
  TempDir dir;
  Victim victim(0600, "7\n");  // a number, so a read through the link would "work"
  ASSERT_EQ(mkdir((dir.path() + "/state").c_str(), 0700), 0);
  WriteFile(dir.path() + "/vrrp-state", "MASTER\n", 0644);
  const std::string track = dir.path() + "/track";
  ASSERT_EQ(symlink(victim.path().c_str(), track.c_str()), 0);
  const Ran ran = RunOperator(LiveCheckArgs(dir.path(), track));
  EXPECT_NE(ran.exit_code, 0) << ran.out;
  EXPECT_TRUE(absl::StrContains(ran.out, "symlink")) << ran.out;
  EXPECT_FALSE(absl::StrContains(ran.out, "demoted track_file")) << ran.out;
  EXPECT_EQ(victim.Harm(), "");
  struct stat st;
  ASSERT_EQ(lstat(track.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

// Attack 4, first half: a state_dir (or tasks/) that another user can write is refused when
// the config is activated, with the path, mode/owner and the fix; the plugin stays up.
TEST(StateFileAttackTest, StateDirOthersCanWriteIsRefusedAtSetConfig) {
  TempDir dir;
  const std::string state = dir.path() + "/state";
  ASSERT_EQ(mkdir(state.c_str(), 0700), 0);
  ASSERT_EQ(chmod(state.c_str(), 0777), 0);
  absl::StatusOr<std::unique_ptr<PluginProcess>> plugin = PluginProcess::Start();
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  absl::Status configured = conformance::ConfigureLikeDriverManager(**plugin, state);
  EXPECT_FALSE(configured.ok());
  EXPECT_TRUE(absl::StrContains(configured.message(), state)) << configured;
  EXPECT_TRUE(absl::StrContains(configured.message(), "mode 0777")) << configured;
  EXPECT_TRUE(absl::StrContains(configured.message(), "chmod go-w")) << configured;
  EXPECT_TRUE((*plugin)->running());
  (*plugin)->Shutdown();

  if (geteuid() != 0) return;  // another owner needs root to arrange
  ASSERT_EQ(chmod(state.c_str(), 0700), 0);
  ASSERT_EQ(mkdir((state + "/tasks").c_str(), 0700), 0);
  ASSERT_EQ(chown((state + "/tasks").c_str(), 65534, 65534), 0);
  plugin = PluginProcess::Start();
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  configured = conformance::ConfigureLikeDriverManager(**plugin, state);
  EXPECT_TRUE(absl::StrContains(configured.message(), "owned by uid 65534")) << configured;
  (*plugin)->Shutdown();
}

class TaskStateAttackTest : public LifecycleTest {
 protected:
  state::DriverState HandleState(const drivers::StartTaskResponse& response) {
    state::DriverState ds;
    EXPECT_TRUE(ds.ParseFromString(response.handle().driver_state()));
    return ds;
  }
};

// Attack 4, second half: a finished task's state dir swapped for a symlink to a directory
// with files; DestroyTask removes the link, never the files it points at.
TEST_F(TaskStateAttackTest, DestroyNeverFollowsASwappedTaskDir) {
  drivers::StartTaskResponse response;
  drivers::TaskConfig task = StartScript("exit 0", &response);
  drivers::WaitTaskResponse wait;
  ASSERT_TRUE(Wait(task.id(), &wait).ok());
  const std::string task_dir = HandleState(response).task_state_dir();
  ASSERT_FALSE(task_dir.empty());
  Victim victim(0600);
  WriteFile(victim.dir() + "/second", "also precious\n", 0600);
  ASSERT_EQ(rename(task_dir.c_str(), (task_dir + ".moved").c_str()), 0);
  ASSERT_EQ(symlink(victim.dir().c_str(), task_dir.c_str()), 0);
  (void)Destroy(task.id(), /*force=*/true);
  EXPECT_EQ(victim.Harm(), "");
  EXPECT_EQ(ReadFile(victim.dir() + "/second"), "also precious\n");
  EXPECT_TRUE(plugin_->running());
}

// Attack 7 (RecoverTask): a handle whose process group is 0, 1 or the plugin's own, or whose
// directory is not this task's, is refused; nothing is signalled and the real task survives.
TEST_F(TaskStateAttackTest, RecoverRefusesForgedProcessGroupsAndDirectories) {
  drivers::StartTaskResponse response;
  drivers::TaskConfig task = StartScript("exec sleep 1000", &response);
  const state::DriverState real = HandleState(response);
  CrashAndRelaunchPlugin();
  const pid_t plugin_pgid = getpgid(plugin_->pid());
  std::vector<std::pair<std::string, state::DriverState>> forged;
  for (int64_t pgid : {int64_t{0}, int64_t{1}, int64_t{plugin_pgid}, int64_t{getpgrp()}}) {
    state::DriverState ds = real;
    ds.set_task_pgid(pgid);
    forged.emplace_back(absl::StrCat("pgid ", pgid), ds);
  }
  Victim victim;
  state::DriverState outside = real;
  outside.set_task_state_dir(victim.dir());
  forged.emplace_back("directory outside state_dir", outside);
  state::DriverState climbing = real;
  climbing.set_task_state_dir(real.task_state_dir() + "/../../../..");
  forged.emplace_back("directory climbing out", climbing);
  for (const auto& [what, ds] : forged) {
    drivers::TaskHandle handle = response.handle();
    handle.set_driver_state(ds.SerializeAsString());
    const grpc::Status status = Recover(handle);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << what << ": " << status.error_message();
    EXPECT_TRUE(plugin_->running()) << what;
  }
  EXPECT_EQ(kill(static_cast<pid_t>(real.task().pid()), 0), 0) << "the real task was signalled";
  EXPECT_EQ(victim.Harm(), "");
  EXPECT_TRUE(Recover(response.handle()).ok());
  drivers::InspectTaskResponse inspect;
  EXPECT_TRUE(Inspect(task.id(), &inspect).ok());
}

}  // namespace
}  // namespace carp_exec::security
