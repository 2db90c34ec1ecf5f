#pragma once
// A private temporary directory for one test, removed with everything in it afterwards.
// Prefers /dev/shm (tmpfs) when it is usable: the crash tests fsync thousands of small files,
// which on a busy disk turns seconds into minutes, and fsync semantics are not what they test
// (the crash model is the step interrupt). CARP_TEST_TMPDIR overrides the choice.

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace carp_exec::failover {

class TempDirForTest {
 public:
  TempDirForTest() {
    std::string base = "/tmp";
    if (const char* tmpdir = getenv("TMPDIR"); tmpdir != nullptr && *tmpdir != '\0') base = tmpdir;
    if (access("/dev/shm", W_OK | X_OK) == 0) base = "/dev/shm";
    if (const char* forced = getenv("CARP_TEST_TMPDIR"); forced != nullptr && *forced != '\0') {
      base = forced;
    }
    std::string pattern = base + "/carp_failover_test.XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDirForTest() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDirForTest(const TempDirForTest&) = delete;
  TempDirForTest& operator=(const TempDirForTest&) = delete;

  // Empty when mkdtemp failed (tests ASSERT on it).
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace carp_exec::failover
