#pragma once
// A private temporary directory for one test, removed with everything in it afterwards.

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace carp_exec::failover {

class TempDirForTest {
 public:
  TempDirForTest() {
    const char* base = getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                          "/carp_failover_test.XXXXXX";
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
