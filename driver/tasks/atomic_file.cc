#include "driver/tasks/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

namespace carp_exec::tasks {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path, int err) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool Stop(const AtomicWriteInterrupt& interrupt, AtomicWriteStep step) {
  return interrupt && !interrupt(step);
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents, int mode,
                                 const AtomicWriteInterrupt& interrupt) {
  const std::string temp = path + ".tmp";
  if (Stop(interrupt, AtomicWriteStep::kWriteTemp)) {
    return absl::AbortedError(absl::StrCat("write of ", path, " interrupted before the temp file"));
  }
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError("cannot create", temp, errno);
  {
    absl::Cleanup close_fd = [fd] { ::close(fd); };
    absl::Status written = WriteAll(fd, contents, temp);
    if (written.ok() && ::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
      written = ErrnoError("cannot chmod", temp, errno);
    }
    if (written.ok() && ::fsync(fd) != 0) written = ErrnoError("cannot fsync", temp, errno);
    if (!written.ok()) {
      ::unlink(temp.c_str());
      return written;
    }
  }
  if (Stop(interrupt, AtomicWriteStep::kRename)) {
    return absl::AbortedError(absl::StrCat("write of ", path, " interrupted before the rename"));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return ErrnoError(absl::StrCat("cannot rename ", temp, " to"), path, err);
  }
  if (Stop(interrupt, AtomicWriteStep::kSyncDir)) {
    return absl::AbortedError(absl::StrCat("write of ", path, " interrupted before the dir sync"));
  }
  const std::string dir = DirectoryOf(path);
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return ErrnoError("cannot open directory", dir, errno);
  absl::Cleanup close_dir = [dir_fd] { ::close(dir_fd); };
  if (::fsync(dir_fd) != 0) return ErrnoError("cannot fsync directory", dir, errno);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> ReadFileIfExists(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return ErrnoError("cannot open", path, errno);
  }
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  std::string contents;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read", path, errno);
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
    // Our files are a few hundred bytes; anything huge is not ours and must not eat memory.
    if (contents.size() > (1 << 20)) {
      return absl::FailedPreconditionError(absl::StrCat(path, " is larger than 1 MiB"));
    }
  }
  return std::optional<std::string>(std::move(contents));
}

absl::Status MakeDirectories(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("empty directory path");
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoError("cannot create directory", prefix, errno);
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("cannot stat", path, errno);
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

}  // namespace carp_exec::tasks
