#include "driver/tasks/launch_resolution.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "driver/tasks/task_errors.h"
#include "driver/tasks/task_test_support.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

void MakeFile(const std::string& path, mode_t mode) {
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, mode);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

TEST(ResolveCommandTest, LooksInTaskDirThenPath) {
  testing::TempDir dir;
  ASSERT_EQ(mkdir(dir.Sub("local").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir.Sub("bin").c_str(), 0755), 0);
  MakeFile(dir.Sub("local/tool"), 0755);
  MakeFile(dir.Sub("tool"), 0755);
  MakeFile(dir.Sub("bin/other"), 0755);
  EXPECT_EQ(*ResolveCommand("tool", dir.path(), dir.Sub("bin")), dir.Sub("local/tool"));
  EXPECT_EQ(*ResolveCommand("other", dir.path(), "/nonexistent:" + dir.Sub("bin")),
            dir.Sub("bin/other"));
  EXPECT_EQ(*ResolveCommand("local/tool", dir.path(), ""), dir.Sub("local/tool"));
  EXPECT_EQ(*ResolveCommand("/bin/sh", dir.path(), ""), "/bin/sh");
  EXPECT_EQ(*ResolveCommand("sh", dir.path(), "/bin"), "/bin/sh");
}

TEST(ResolveCommandTest, MissingAndNonExecutable) {
  testing::TempDir dir;
  absl::StatusOr<std::string> missing = ResolveCommand("nope-carp", dir.path(), "/bin");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "no such command \"nope-carp\""));
  EXPECT_FALSE(IsRecoverable(missing.status()));
  EXPECT_EQ(ResolveCommand("", dir.path(), "").status().code(), absl::StatusCode::kInvalidArgument);
  // Outside the task dir a missing x bit is reported, not fixed.
  ASSERT_EQ(mkdir(dir.Sub("host").c_str(), 0755), 0);
  MakeFile(dir.Sub("host/data"), 0644);
  EXPECT_EQ(ResolveCommand("data", dir.Sub("nowhere"), dir.Sub("host")).status().code(),
            absl::StatusCode::kPermissionDenied);
  // Inside the task dir too: reported with the fix, and the mode is left alone (issue 9).
  MakeFile(dir.Sub("artifact"), 0644);
  absl::StatusOr<std::string> artifact = ResolveCommand("artifact", dir.path(), "");
  EXPECT_EQ(artifact.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(artifact.status().message(), "no execute permission"))
      << artifact.status();
  struct stat st;
  ASSERT_EQ(stat(dir.Sub("artifact").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

// Issue 9, attack 1: a relative command that climbs out, or a symlink in local/ that leads
// out, is refused and the file it names keeps its mode.
TEST(ResolveCommandTest, RelativeCommandsCannotLeaveTheTaskDir) {
  testing::TempDir dir;
  ASSERT_EQ(mkdir(dir.Sub("task").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir.Sub("task/local").c_str(), 0755), 0);
  MakeFile(dir.Sub("victim"), 0600);
  const std::string task = dir.Sub("task");
  ASSERT_EQ(symlink(dir.Sub("victim").c_str(), dir.Sub("task/local/link").c_str()), 0);
  ASSERT_EQ(symlink("../../victim", dir.Sub("task/local/rel").c_str()), 0);
  for (const char* command : {"../victim", "../../../../../../../../etc/shadow", "local/link",
                              "link", "rel", "local/../../victim"}) {
    absl::StatusOr<std::string> found = ResolveCommand(command, task, "/usr/bin:/bin");
    EXPECT_EQ(found.status().code(), absl::StatusCode::kPermissionDenied) << command;
    EXPECT_TRUE(absl::StrContains(found.status().message(), "outside")) << found.status();
    EXPECT_TRUE(absl::StrContains(found.status().message(), command)) << found.status();
  }
  struct stat st;
  ASSERT_EQ(stat(dir.Sub("victim").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

// Issue 9, attack 7: an empty or relative PATH entry means the task dir, not the plugin's cwd.
TEST(ResolveCommandTest, RelativePathEntriesAreTheTaskDirs) {
  testing::TempDir dir;
  ASSERT_EQ(mkdir(dir.Sub("task").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir.Sub("task/tools").c_str(), 0755), 0);
  MakeFile(dir.Sub("task/tools/helper"), 0755);
  MakeFile(dir.Sub("task/here"), 0755);
  EXPECT_EQ(*ResolveCommand("helper", dir.Sub("task"), "/nonexistent:tools"),
            dir.Sub("task/tools/helper"));
  EXPECT_EQ(*ResolveCommand("here", dir.Sub("task"), ":/bin"), dir.Sub("task/here"));
  // Nothing is looked up relative to the plugin's working directory.
  ASSERT_EQ(chdir(dir.path().c_str()), 0);
  MakeFile(dir.Sub("cwd-only"), 0755);
  EXPECT_EQ(ResolveCommand("cwd-only", dir.Sub("task"), ":.:/nonexistent").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_EQ(chdir("/"), 0);
}

// The user check runs before any lookup: a denied user with a hostile command gets the
// deny-list error, not a lookup error, and no file is touched.
TEST(ResolveLaunchTest, DeniedUserIsRefusedBeforeTheLookup) {
  testing::TempDir dir;
  ASSERT_EQ(mkdir(dir.Sub("task").c_str(), 0755), 0);
  MakeFile(dir.Sub("victim"), 0600);
  LaunchSpec spec;
  spec.task_id = "a/t/1";
  spec.command = "../victim";
  spec.task_dir = dir.Sub("task");
  spec.user = "root";
  absl::StatusOr<state::LaunchSpec> out = ResolveLaunch(spec, IdRanges({{0, 0}}), {});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(out.status().message(), "denied_host_uids")) << out.status();
  struct stat st;
  ASSERT_EQ(stat(dir.Sub("victim").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(ResolveUserTest, UnknownUserAndDenyLists) {
  absl::StatusOr<state::Credentials> unknown = ResolveUser("no-such-user-carp", {}, {});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "unknown user"));
  absl::StatusOr<state::Credentials> root = ResolveUser("root", {}, {});
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->uid(), 0u);
  EXPECT_EQ(root->home(), "/root");
  EXPECT_EQ(ResolveUser("0", {}, {})->name(), "root");
  absl::StatusOr<state::Credentials> denied = ResolveUser("root", IdRanges({{0, 100}}), {});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(denied.status().message(), "0-100"));
  EXPECT_EQ(ResolveUser("root", {}, IdRanges({{0, 0}})).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(CheckGroupCountTest, MoreGroupsThanSetgroupsAcceptsIsAClearError) {
  // OpenBSD's NGROUPS_MAX is 16 (sys/sys/syslimits.h); its setgroups returns EINVAL above it.
  EXPECT_TRUE(CheckGroupCount("www", 16, 16).ok());
  absl::Status too_many = CheckGroupCount("www", 17, 16);
  EXPECT_EQ(too_many.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(too_many.message(), "\"www\" is in 17 groups")) << too_many;
  EXPECT_TRUE(absl::StrContains(too_many.message(), "at most 16 (NGROUPS_MAX)")) << too_many;
  EXPECT_TRUE(CheckGroupCount("www", 100000, 0).ok()) << "an unknown limit is not enforced";
}

TEST(CheckGroupCountTest, ThisSystemsLimitLetsRootThrough) {
  EXPECT_GE(SupplementaryGroupLimit(), 16);
  absl::StatusOr<state::Credentials> root = ResolveUser("root", IdRanges(), IdRanges());
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_LE(root->groups_size(), SupplementaryGroupLimit());
}

TEST(ResolveLaunchTest, FillsDefaultsAndUserEnvironment) {
  LaunchSpec spec;
  spec.task_id = "a/t/1";
  spec.command = "sh";
  spec.task_dir = "/tmp";
  spec.env = {{"PATH", "/bin"}, {"FOO", "1"}};
  spec.user = "root";
  spec.guarded = true;
  spec.ready = "r";
  absl::StatusOr<state::LaunchSpec> out = ResolveLaunch(spec, {}, {});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->command(), "/bin/sh");
  EXPECT_EQ(out->work_dir(), "/tmp");
  EXPECT_EQ(out->stdout_path(), "/dev/null");
  EXPECT_TRUE(out->guarded());
  EXPECT_EQ(out->ready(), "r");
  std::map<std::string, std::string> env;
  for (const auto& var : out->env()) env[var.name()] = var.value();
  EXPECT_EQ(env["USER"], "root");
  EXPECT_EQ(env["LOGNAME"], "root");
  EXPECT_EQ(env["HOME"], "/root");
  EXPECT_EQ(env["FOO"], "1");

  spec.work_dir = "relative";
  EXPECT_EQ(ResolveLaunch(spec, {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  spec.work_dir = "";
  spec.args = {std::string("a\0b", 3)};
  EXPECT_EQ(ResolveLaunch(spec, {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  spec.args = {};
  spec.env["BAD=NAME"] = "x";
  EXPECT_EQ(ResolveLaunch(spec, {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace carp_exec::tasks
