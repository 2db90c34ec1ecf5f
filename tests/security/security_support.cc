#include "tests/security/security_support.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace carp_exec::security {

Victim::Victim(mode_t mode, std::string content)
    : path_(dir_.path() + "/victim"), mode_(mode), content_(std::move(content)) {
  WriteFile(path_, content_, mode_);
}

std::string Victim::Harm() const {
  struct stat st;
  if (lstat(path_.c_str(), &st) != 0) return "the victim file is gone";
  if (!S_ISREG(st.st_mode)) return "the victim is no longer a regular file";
  std::string harm;
  if ((st.st_mode & 07777) != mode_) {
    harm = absl::StrFormat("mode changed from %04o to %04o; ", mode_, st.st_mode & 07777);
  }
  const std::string now = ReadFile(path_);
  if (now != content_) absl::StrAppend(&harm, "content changed to \"", now, "\"");
  return harm;
}

std::string ClimbTo(const std::string& from, const std::string& absolute) {
  std::string out;
  for (absl::string_view part : absl::StrSplit(from, '/', absl::SkipEmpty())) {
    (void)part;
    out += "../";
  }
  return out + absolute.substr(1);
}

void WriteFile(const std::string& path, const std::string& content, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  (void)!write(fd, content.data(), content.size());
  (void)fchmod(fd, mode);
  close(fd);
}

std::string ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0 && out.size() < (1 << 20)) {
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

}  // namespace carp_exec::security
