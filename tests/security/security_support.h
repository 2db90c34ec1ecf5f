#pragma once
// What the adversarial tests share: a victim file outside every directory a job may reach, and
// the checks that it is unharmed.

#include <sys/types.h>

#include <string>

#include "tests/conformance/conformance_support.h"

namespace carp_exec::security {

// A file the attacks aim at, in its own temporary directory (never a real system file), with
// a known mode and content.
class Victim {
 public:
  explicit Victim(mode_t mode = 0600, std::string content = "precious\n");
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_.path(); }
  // Empty when the file still has its mode, content and type; else what changed.
  std::string Harm() const;

 private:
  conformance::TempDir dir_;
  std::string path_;
  mode_t mode_;
  std::string content_;
};

// `absolute` spelled relative to `from`, climbing to / first: "../../../tmp/x/victim" — the
// shape of `command = "../../../../etc/shadow"`.
std::string ClimbTo(const std::string& from, const std::string& absolute);

// Writes `content` to `path` with exactly `mode`.
void WriteFile(const std::string& path, const std::string& content, mode_t mode);

// The file's content ("" if unreadable) and mode (0 if missing), without following links.
std::string ReadFile(const std::string& path);
mode_t ModeOf(const std::string& path);

}  // namespace carp_exec::security
