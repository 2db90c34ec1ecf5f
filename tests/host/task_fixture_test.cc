#include "tests/host/task_fixture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "gtest/gtest.h"

namespace carp_exec::test_host {
namespace {

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(TaskFixtureTest, LaysOutTheAllocDirLikeTheClient) {
  std::string alloc_dir;
  {
    absl::StatusOr<std::unique_ptr<TaskFixture>> fixture = TaskFixture::Create();
    ASSERT_TRUE(fixture.ok()) << fixture.status();
    const TaskFixture& f = **fixture;
    alloc_dir = f.alloc_dir();
    for (const char* dir : {"/alloc", "/alloc/logs", "/alloc/tmp", "/alloc/data", "/web",
                            "/web/local", "/web/secrets", "/web/private", "/web/tmp"}) {
      EXPECT_TRUE(IsDir(alloc_dir + dir)) << dir;
    }
    struct stat st;
    ASSERT_EQ(stat(f.stdout_fifo().c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(f.stdout_fifo(), alloc_dir + "/alloc/logs/.web.stdout.fifo");
  }
  EXPECT_FALSE(IsDir(alloc_dir)) << "the fixture removes its alloc dir";
}

TEST(TaskFixtureTest, FifoOutputReachesTheLogFile) {
  absl::StatusOr<std::unique_ptr<TaskFixture>> fixture = TaskFixture::Create();
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  // How a driver opens it: non-blocking (fails fast without a reader), then blocking writes.
  const int fd = open((*fixture)->stderr_fifo().c_str(), O_WRONLY | O_NONBLOCK);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "hello\n", 6), 6);
  close(fd);
  ASSERT_TRUE((*fixture)->stderr_log()->WaitFor("hello\n", absl::Now() + absl::Seconds(10)));
  EXPECT_EQ(ReadFile((*fixture)->alloc_dir() + "/alloc/logs/web.stderr.0"), "hello\n");
}

TEST(TaskFixtureTest, TaskConfigCarriesWhatTheClientSends) {
  absl::StatusOr<std::unique_ptr<TaskFixture>> fixture = TaskFixture::Create();
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  const TaskFixture& f = **fixture;
  const auto first = f.MakeTaskConfig("\x80");
  const auto second = f.MakeTaskConfig("\x80");
  EXPECT_NE(first.id(), second.id()) << "every start gets a new id";
  EXPECT_TRUE(std::regex_match(
      first.id(), std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
                             "/web/[0-9a-f]{8}")))
      << first.id();
  EXPECT_EQ(first.alloc_id(), f.alloc_id());
  EXPECT_EQ(first.stdout_path(), f.stdout_fifo());
  EXPECT_EQ(first.env().at("NOMAD_TASK_DIR"), f.task_dir() + "/local");
  EXPECT_EQ(first.env().at("NOMAD_ALLOC_DIR"), f.alloc_dir() + "/alloc");
  EXPECT_TRUE(first.env().contains("PATH"));
}

TEST(TaskFixtureTest, DisabledLogsUseDevNull) {
  TaskFixtureOptions options;
  options.logs_disabled = true;
  absl::StatusOr<std::unique_ptr<TaskFixture>> fixture = TaskFixture::Create(options);
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  EXPECT_EQ((*fixture)->MakeTaskConfig("").stdout_path(), "/dev/null");
  EXPECT_EQ((*fixture)->stdout_log(), nullptr);
}

}  // namespace
}  // namespace carp_exec::test_host
