// WriteFileAtomically against planted files (issue 9, attack 3): a symlink at the old fixed
// temp name or at the target never redirects a write; a FIFO never blocks a read.
#include "driver/tasks/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "driver/tasks/task_test_support.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

std::string Contents(const std::string& path) {
  absl::StatusOr<std::optional<std::string>> text = ReadFileIfExists(path);
  return text.ok() && text->has_value() ? **text : "<none>";
}

int CountEntries(const std::string& dir) {
  int count = 0;
  DIR* handle = opendir(dir.c_str());
  while (struct dirent* entry = readdir(handle)) count += entry->d_name[0] != '.';
  closedir(handle);
  return count;
}

TEST(AtomicFileTest, WritesReplacesAndLeavesNoTempBehind) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.Sub("f"), "one", 0640).ok());
  ASSERT_TRUE(WriteFileAtomically(dir.Sub("f"), "two", 0640).ok());
  EXPECT_EQ(Contents(dir.Sub("f")), "two");
  struct stat st;
  ASSERT_EQ(stat(dir.Sub("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(CountEntries(dir.path()), 1);
}

TEST(AtomicFileTest, ASymlinkAtTheOldTempNameRedirectsNothing) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.Sub("victim"), "precious", 0600).ok());
  ASSERT_EQ(symlink(dir.Sub("victim").c_str(), dir.Sub("ledger.tmp").c_str()), 0);
  ASSERT_TRUE(WriteFileAtomically(dir.Sub("ledger"), "ours", 0600).ok());
  EXPECT_EQ(Contents(dir.Sub("victim")), "precious");
  EXPECT_EQ(Contents(dir.Sub("ledger")), "ours");
}

TEST(AtomicFileTest, ASymlinkOrFifoAtTheTargetIsRefusedAndLeftAlone) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.Sub("victim"), "precious", 0600).ok());
  ASSERT_EQ(symlink(dir.Sub("victim").c_str(), dir.Sub("track").c_str()), 0);
  absl::Status written = WriteFileAtomically(dir.Sub("track"), "0\n", 0644);
  EXPECT_EQ(written.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(written.message(), "symlink")) << written;
  EXPECT_EQ(Contents(dir.Sub("victim")), "precious");
  struct stat st;
  ASSERT_EQ(lstat(dir.Sub("track").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(CountEntries(dir.path()), 2) << "no temp file may be left after a refusal";
  EXPECT_EQ(ReadFileIfExists(dir.Sub("track")).status().code(),
            absl::StatusCode::kFailedPrecondition);

  ASSERT_EQ(mkfifo(dir.Sub("fifo").c_str(), 0600), 0);
  EXPECT_EQ(WriteFileAtomically(dir.Sub("fifo"), "x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadFileIfExists(dir.Sub("fifo")).status().code(),  // returns, does not block
            absl::StatusCode::kFailedPrecondition);
}

TEST(AtomicFileTest, AnInterruptedWriteLeavesTheOldFile) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.Sub("f"), "old", 0600).ok());
  absl::Status stopped = WriteFileAtomically(dir.Sub("f"), "new", 0600, [](AtomicWriteStep step) {
    return step != AtomicWriteStep::kRename;
  });
  EXPECT_EQ(stopped.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Contents(dir.Sub("f")), "old");
  ASSERT_TRUE(WriteFileAtomically(dir.Sub("f"), "newer", 0600).ok());
  EXPECT_EQ(Contents(dir.Sub("f")), "newer");
}

}  // namespace
}  // namespace carp_exec::tasks
