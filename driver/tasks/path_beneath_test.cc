// StatBeneath: lookups that a job names may not leave the task dir, whichever walk runs
// (openat2 on Linux, the portable openat walk everywhere).
#include "driver/tasks/path_beneath.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "driver/tasks/task_test_support.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

class PathBeneathTest : public ::testing::TestWithParam<BeneathWalk> {
 protected:
  void SetUp() override {
    // root/task is the root; root/outside is a sibling a job must not reach.
    ASSERT_EQ(mkdir(dir_.Sub("task").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(dir_.Sub("task/local").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(dir_.Sub("task/bin").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(dir_.Sub("outside").c_str(), 0755), 0);
    Touch("task/local/app");
    Touch("outside/secret");
  }
  void Touch(const std::string& name) {
    int fd = open(dir_.Sub(name).c_str(), O_CREAT | O_WRONLY, 0755);
    ASSERT_GE(fd, 0);
    close(fd);
  }
  absl::StatusOr<BeneathEntry> Stat(const std::string& relative) {
    return StatBeneath(root(), relative, "test path", GetParam());
  }
  std::string root() const { return dir_.Sub("task"); }
  testing::TempDir dir_;
};

TEST_P(PathBeneathTest, FindsFilesInsideAndNamesThemFromTheRoot) {
  absl::StatusOr<BeneathEntry> entry = Stat("local/app");
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_EQ(entry->path, root() + "/local/app");
  EXPECT_TRUE(S_ISREG(entry->st.st_mode));
  EXPECT_EQ(Stat("./local//./app")->path, root() + "/local/app");
  EXPECT_EQ(Stat("local/../local/app").status().code(), absl::StatusCode::kOk);
  EXPECT_TRUE(S_ISDIR(Stat(".")->st.st_mode));
}

TEST_P(PathBeneathTest, DotDotAboveTheRootIsRefused) {
  for (const char* path : {"../outside/secret", "local/../../outside/secret",
                           "../../../../../../../../etc/shadow", ".."}) {
    absl::StatusOr<BeneathEntry> entry = Stat(path);
    EXPECT_EQ(entry.status().code(), absl::StatusCode::kPermissionDenied) << path;
    EXPECT_TRUE(absl::StrContains(entry.status().message(), "outside")) << entry.status();
  }
}

TEST_P(PathBeneathTest, SymlinksLeadingOutAreRefusedAndInsideOnesFollowed) {
  ASSERT_EQ(symlink(dir_.Sub("outside/secret").c_str(), dir_.Sub("task/local/abs").c_str()), 0);
  ASSERT_EQ(symlink("../../outside/secret", dir_.Sub("task/local/rel").c_str()), 0);
  ASSERT_EQ(symlink("../../outside", dir_.Sub("task/local/dir").c_str()), 0);
  ASSERT_EQ(symlink("app", dir_.Sub("task/local/current").c_str()), 0);
  ASSERT_EQ(symlink("../local", dir_.Sub("task/bin/lib").c_str()), 0);
  for (const char* path : {"local/abs", "local/rel", "local/dir/secret"}) {
    EXPECT_EQ(Stat(path).status().code(), absl::StatusCode::kPermissionDenied) << path;
  }
  absl::StatusOr<BeneathEntry> current = Stat("local/current");
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_TRUE(S_ISREG(current->st.st_mode));
  EXPECT_EQ(current->path, root() + "/local/current");
  EXPECT_TRUE(Stat("bin/lib/app").ok());
}

TEST_P(PathBeneathTest, MissingLoopsAndNonDirectories) {
  EXPECT_EQ(Stat("local/nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Stat("local/app/x").status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(symlink("loop", dir_.Sub("task/local/loop").c_str()), 0);
  EXPECT_EQ(Stat("local/loop").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatBeneath(dir_.Sub("missing"), "x", "t", GetParam()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Stat("/etc/passwd").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(PathBeneathTest, AFifoIsStattedNeverOpened) {
  ASSERT_EQ(mkfifo(dir_.Sub("task/local/fifo").c_str(), 0600), 0);
  absl::StatusOr<BeneathEntry> entry = Stat("local/fifo");  // would block if opened for read
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_TRUE(S_ISFIFO(entry->st.st_mode));
}

// A job must not make the plugin hold an fd per level of a deep tree, or walk a huge name.
TEST_P(PathBeneathTest, DeepTreesAndHugeNamesAreBounded) {
  std::string deep;
  for (int i = 0; i < 260; ++i) {
    deep += "d/";
    ASSERT_EQ(mkdir((root() + "/" + deep).c_str(), 0755), 0) << i;
  }
  Touch("task/" + deep + "f");
  absl::StatusOr<BeneathEntry> entry = Stat(deep + "f");
  EXPECT_FALSE(entry.ok());
  EXPECT_NE(entry.status().code(), absl::StatusCode::kPermissionDenied) << entry.status();
  EXPECT_EQ(Stat(std::string(5000, 'x')).status().code(), absl::StatusCode::kInvalidArgument);
  // Depth reached through a symlink costs the walk an fd per level too (openat2 holds none, so
  // there it is the kernel's business).
  ASSERT_EQ(symlink(deep.c_str(), dir_.Sub("task/deeplink").c_str()), 0);
  if (GetParam() == BeneathWalk::kPortableWalk) {
    EXPECT_FALSE(Stat("deeplink/f").ok());
  }
}

INSTANTIATE_TEST_SUITE_P(BothWalks, PathBeneathTest,
                         ::testing::Values(BeneathWalk::kAuto, BeneathWalk::kPortableWalk),
                         [](const ::testing::TestParamInfo<BeneathWalk>& info) {
                           return info.param == BeneathWalk::kAuto ? std::string("Auto")
                                                                   : std::string("PortableWalk");
                         });

}  // namespace
}  // namespace carp_exec::tasks
