#include "driver/tasks/state_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "carp_exec/driver_state.pb.h"
#include "driver/tasks/task_test_support.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

TEST(StateDirTest, TaskDirNameIsAStableHash) {
  // FNV-1a 64 of the empty string is the offset basis; of "a" a published test vector.
  EXPECT_EQ(TaskDirName(""), "cbf29ce484222325");
  EXPECT_EQ(TaskDirName("a"), "af63dc4c8601ec8c");
  EXPECT_EQ(TaskDirName("alloc/task/1234abcd").size(), 16u);
  EXPECT_NE(TaskDirName("alloc/task/1"), TaskDirName("alloc/task/2"));
  EXPECT_EQ(TaskStateDir("/var/db/carp_exec", "a"), "/var/db/carp_exec/tasks/af63dc4c8601ec8c");
}

TEST(StateDirTest, SocketPathLimitIsCheckedWithAClearError) {
  EXPECT_TRUE(CheckSocketPathFits("/var/db/carp_exec").ok());
  std::string long_dir = "/" + std::string(80, 'x');
  absl::Status status = CheckSocketPathFits(long_dir);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "OpenBSD")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), long_dir)) << status;
}

TEST(StateDirTest, AtomicWriteReplacesAndLeavesNoTempFiles) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteTaskFile(dir.path(), "exit.pb", "first").ok());
  ASSERT_TRUE(WriteTaskFile(dir.path(), "exit.pb", "second").ok());
  EXPECT_EQ(*ReadWholeFile(dir.Sub("exit.pb")), "second");
  EXPECT_EQ(testing::CountEntries(dir.path()), 1);
  struct stat st;
  ASSERT_EQ(stat(dir.Sub("exit.pb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(ReadWholeFile(dir.Sub("missing")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(WriteTaskFile(dir.Sub("no/such"), "x", "y").ok());
}

TEST(StateDirTest, CorruptRecordIsDataLoss) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteTaskFile(dir.path(), "exit.pb", "\xff\xff\xff").ok());
  state::ExitRecord record;
  EXPECT_EQ(ReadMessage(dir.Sub("exit.pb"), &record).code(), absl::StatusCode::kDataLoss);
}

TEST(StateDirTest, RemoveTaskDirRemovesFilesAndToleratesAbsence) {
  testing::TempDir dir;
  std::string task = dir.Sub("t");
  ASSERT_EQ(mkdir(task.c_str(), 0700), 0);
  ASSERT_TRUE(WriteTaskFile(task, "spec.pb", "x").ok());
  ASSERT_TRUE(WriteTaskFile(task, "exit.pb", "y").ok());
  EXPECT_TRUE(RemoveTaskDir(task).ok());
  EXPECT_NE(access(task.c_str(), F_OK), 0);
  EXPECT_TRUE(RemoveTaskDir(task).ok());
}

TEST(StateDirTest, ScanSkipsUnreadableEntriesAndReportsLostOnes) {
  testing::TempDir dir;
  ASSERT_EQ(mkdir(TasksRoot(dir.path()).c_str(), 0700), 0);
  std::string junk = TasksRoot(dir.path()) + "/junk";
  ASSERT_EQ(mkdir(junk.c_str(), 0700), 0);
  std::string lost = TaskStateDir(dir.path(), "lost-task");
  ASSERT_EQ(mkdir(lost.c_str(), 0700), 0);
  state::LaunchSpec spec;
  spec.set_task_id("lost-task");
  spec.set_guarded(true);
  ASSERT_TRUE(WriteTaskFile(lost, kSpecFile, spec.SerializeAsString()).ok());
  std::vector<PersistedTask> found = ScanStateDir(dir.path());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].task_id, "lost-task");
  EXPECT_TRUE(found[0].guarded);
  EXPECT_EQ(found[0].liveness, PersistedTask::Liveness::kLost);
  EXPECT_TRUE(ScanStateDir(dir.Sub("nothing-here")).empty());
}

// Issue 9, attack 4: a task dir swapped for a symlink to a directory with files; removing the
// task dir deletes nothing there, only the link.
TEST(StateDirTest, RemoveTaskDirNeverFollowsASwappedSymlink) {
  testing::TempDir dir;
  ASSERT_EQ(mkdir(dir.Sub("victim").c_str(), 0755), 0);
  ASSERT_TRUE(WriteTaskFile(dir.Sub("victim"), "precious", "keep me").ok());
  ASSERT_EQ(mkdir(dir.Sub("tasks").c_str(), 0700), 0);
  const std::string task = dir.Sub("tasks/0123456789abcdef");
  ASSERT_EQ(symlink(dir.Sub("victim").c_str(), task.c_str()), 0);
  EXPECT_TRUE(RemoveTaskDir(task).ok());
  EXPECT_EQ(*ReadWholeFile(dir.Sub("victim/precious")), "keep me");
  struct stat st;
  EXPECT_NE(lstat(task.c_str(), &st), 0) << "the link itself is removed";
  // A symlink inside a real task dir is unlinked as an entry, not followed.
  ASSERT_EQ(mkdir(task.c_str(), 0700), 0);
  ASSERT_EQ(symlink(dir.Sub("victim/precious").c_str(), (task + "/exit.pb").c_str()), 0);
  EXPECT_TRUE(RemoveTaskDir(task).ok());
  EXPECT_EQ(*ReadWholeFile(dir.Sub("victim/precious")), "keep me");
  EXPECT_NE(lstat(task.c_str(), &st), 0);
}

TEST(StateDirTest, ScanNeverEntersASymlinkedTaskDir) {
  testing::TempDir dir;
  ASSERT_EQ(mkdir(TasksRoot(dir.path()).c_str(), 0700), 0);
  ASSERT_EQ(mkdir(dir.Sub("elsewhere").c_str(), 0700), 0);
  state::LaunchSpec spec;
  spec.set_task_id("planted");
  ASSERT_TRUE(WriteTaskFile(dir.Sub("elsewhere"), kSpecFile, spec.SerializeAsString()).ok());
  ASSERT_EQ(symlink(dir.Sub("elsewhere").c_str(), TaskStateDir(dir.path(), "planted").c_str()), 0);
  EXPECT_TRUE(ScanStateDir(dir.path()).empty());
}

// Issue 9, attack 4: a state_dir others can write is refused with the path, mode and fix.
TEST(StateDirTest, OwnershipCheckRefusesWritableOrForeignOrSymlinkedDirs) {
  testing::TempDir dir;  // mkdtemp: 0700, ours
  EXPECT_TRUE(CheckStateDirOwnership(dir.path()).ok());
  ASSERT_EQ(mkdir(TasksRoot(dir.path()).c_str(), 0700), 0);
  EXPECT_TRUE(CheckStateDirOwnership(dir.path()).ok());

  ASSERT_EQ(chmod(dir.path().c_str(), 0777), 0);
  absl::Status open_dir = CheckStateDirOwnership(dir.path());
  EXPECT_EQ(open_dir.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(open_dir.message(), "mode 0777")) << open_dir;
  EXPECT_TRUE(absl::StrContains(open_dir.message(), "chmod go-w '" + dir.path() + "'")) << open_dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0700), 0);

  ASSERT_EQ(chmod(TasksRoot(dir.path()).c_str(), 0770), 0);
  EXPECT_TRUE(absl::StrContains(CheckStateDirOwnership(dir.path()).message(), "/tasks"));
  ASSERT_EQ(chmod(TasksRoot(dir.path()).c_str(), 0700), 0);

  ASSERT_EQ(mkdir(dir.Sub("real-failover").c_str(), 0700), 0);
  ASSERT_EQ(symlink(dir.Sub("real-failover").c_str(), dir.Sub("failover").c_str()), 0);
  absl::Status linked = CheckStateDirOwnership(dir.path());
  EXPECT_TRUE(absl::StrContains(linked.message(), "symlink")) << linked;
  ASSERT_EQ(unlink(dir.Sub("failover").c_str()), 0);

  if (geteuid() == 0) {  // another owner needs root to arrange
    ASSERT_EQ(chown(TasksRoot(dir.path()).c_str(), 65534, 65534), 0);
    absl::Status foreign = CheckStateDirOwnership(dir.path());
    EXPECT_TRUE(absl::StrContains(foreign.message(), "owned by uid 65534")) << foreign;
    ASSERT_EQ(chown(TasksRoot(dir.path()).c_str(), 0, 0), 0);
  }

  // An ancestor others can write (not sticky) lets them swap state_dir itself.
  ASSERT_EQ(mkdir(dir.Sub("open").c_str(), 0700), 0);
  ASSERT_EQ(chmod(dir.Sub("open").c_str(), 0777), 0);
  ASSERT_EQ(mkdir(dir.Sub("open/state").c_str(), 0700), 0);
  absl::Status parent = CheckStateDirOwnership(dir.Sub("open/state"));
  EXPECT_TRUE(absl::StrContains(parent.message(), "its parent")) << parent;
  ASSERT_EQ(chmod(dir.Sub("open").c_str(), 01777), 0);  // sticky, like /tmp
  EXPECT_TRUE(CheckStateDirOwnership(dir.Sub("open/state")).ok());
}

}  // namespace
}  // namespace carp_exec::tasks
