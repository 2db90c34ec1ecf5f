// The boot token (boot_token.h): created once, read back unchanged (also across clock steps,
// which moved the kern.boottime it replaces), new after a reboot emptied /var/run, and refused
// when someone else could have written it.
#include "driver/tasks/boot_token.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

class BootTokenTest : public testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/carp_boot_token.XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    dir_ = templ;
    path_ = dir_ + "/carp_exec.boot";
  }
  void TearDown() override {
    std::string command = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(std::system(command.c_str()), 0);
  }
  void Write(const std::string& text, mode_t mode = 0644) {
    std::ofstream(path_) << text;
    chmod(path_.c_str(), mode);
  }

  std::string dir_;
  std::string path_;
};

absl::StatusOr<std::string> Fixed(const char* hex) { return std::string(hex); }

TEST_F(BootTokenTest, FirstReaderCreatesItAndEveryLaterReaderGetsTheSame) {
  absl::StatusOr<std::string> first = ReadOrCreateBootTokenFile(path_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->size(), 32u);
  absl::StatusOr<std::string> again =
      ReadOrCreateBootTokenFile(path_, [] { return Fixed("ffffffffffffffffffffffffffffffff"); });
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *first);
  struct stat st {};
  ASSERT_EQ(lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(st.st_nlink, 1u) << "the temporary name must be gone";
}

TEST_F(BootTokenTest, ClockStepsDoNotChangeIt) {
  // The token holds no time at all; the model clock below is what kern.boottime followed.
  int64_t boot_micros = 1700000000000000;  // kern.boottime as the old boot id
  absl::StatusOr<std::string> before = ReadOrCreateBootTokenFile(path_);
  ASSERT_TRUE(before.ok()) << before.status();
  const int64_t old_boot_id = boot_micros;
  boot_micros += 3600000000;  // rdate steps the clock by an hour: boot time moves with it
  EXPECT_NE(boot_micros, old_boot_id) << "the old boot id would have said: rebooted";
  absl::StatusOr<std::string> after = ReadOrCreateBootTokenFile(path_);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, *before);
}

TEST_F(BootTokenTest, AfterRebootEmptiedVarRunThereIsANewOne) {
  ASSERT_TRUE(ReadOrCreateBootTokenFile(path_, [] {
                return Fixed("0123456789abcdef0123456789abcdef");
              }).ok());
  ASSERT_EQ(unlink(path_.c_str()), 0);  // what rc does at boot
  absl::StatusOr<std::string> next =
      ReadOrCreateBootTokenFile(path_, [] { return Fixed("fedcba9876543210fedcba9876543210"); });
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, "fedcba9876543210fedcba9876543210");
}

TEST_F(BootTokenTest, ASymlinkIsRefusedNotFollowed) {
  const std::string target = dir_ + "/elsewhere";
  std::ofstream(target) << "0123456789abcdef0123456789abcdef\n";
  ASSERT_EQ(symlink(target.c_str(), path_.c_str()), 0);
  absl::StatusOr<std::string> token = ReadOrCreateBootTokenFile(path_);
  ASSERT_FALSE(token.ok());
  EXPECT_NE(token.status().message().find("symbolic link"), std::string::npos) << token.status();
}

TEST_F(BootTokenTest, AFileOthersCouldWriteIsRefused) {
  Write("0123456789abcdef0123456789abcdef\n", 0666);
  absl::StatusOr<std::string> token = ReadOrCreateBootTokenFile(path_);
  ASSERT_FALSE(token.ok());
  EXPECT_NE(token.status().message().find("remove it"), std::string::npos) << token.status();
}

TEST_F(BootTokenTest, MalformedContentIsRefused) {
  for (const char* text :
       {"", "0123456789abcdef0123456789abcdef", "0123456789ABCDEF0123456789ABCDEF\n",
        "0123456789abcdef0123456789abcdef\nextra", "not a token\n"}) {
    Write(text);
    absl::StatusOr<std::string> token = ReadOrCreateBootTokenFile(path_);
    EXPECT_FALSE(token.ok()) << "accepted \"" << text << "\"";
  }
}

TEST_F(BootTokenTest, AFifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
  absl::StatusOr<std::string> token = ReadOrCreateBootTokenFile(path_);
  EXPECT_FALSE(token.ok());
}

TEST_F(BootTokenTest, ABadRandomSourceIsAnError) {
  absl::StatusOr<std::string> token = ReadOrCreateBootTokenFile(path_, [] { return Fixed("xyz"); });
  EXPECT_FALSE(token.ok());
  EXPECT_NE(access(path_.c_str(), F_OK), 0) << "nothing may be created from a bad id";
}

TEST_F(BootTokenTest, LinuxBootIdIsReadAndChecked) {
  std::ofstream(path_) << "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\n";
  absl::StatusOr<std::string> id = ReadLinuxBootId(path_);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  std::ofstream(path_) << "garbage\n";
  EXPECT_FALSE(ReadLinuxBootId(path_).ok());
  EXPECT_FALSE(ReadLinuxBootId(dir_ + "/missing").ok());
}

TEST(CurrentBootTokenTest, IsStableWithinThisBoot) {
  absl::StatusOr<std::string> a = CurrentBootToken();
  absl::StatusOr<std::string> b = CurrentBootToken();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*a, *b);
}

}  // namespace
}  // namespace carp_exec::tasks
