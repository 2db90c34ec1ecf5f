#include "driver/tasks/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>

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

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The file being replaced may be missing or a regular file; a symlink, a directory, a FIFO or
// a device there is not ours (issue 9: a planted link) and is refused rather than replaced.
absl::Status CheckTarget(int dir_fd, const std::string& path, const std::string& name) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError("cannot stat", path, errno);
  }
  if (S_ISREG(st.st_mode)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "refusing to replace ", path, ": it is ",
      S_ISLNK(st.st_mode) ? "a symlink" : "not a regular file",
      ", and carp_exec only writes regular files it owns; remove it (and check who put it there)"));
}

// A new temp file beside the target, <name>.tmp.<12 hex random>, made with O_EXCL|O_NOFOLLOW
// (like mkstemp): nothing that already exists there, link or file, is ever opened.
absl::StatusOr<std::pair<int, std::string>> CreateTemp(int dir_fd, const std::string& path,
                                                       const std::string& name) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    unsigned char random[6];
    if (::getentropy(random, sizeof(random)) != 0) {
      return ErrnoError("cannot get random bytes for a temp file beside", path, errno);
    }
    std::string temp_name = absl::StrCat(name, ".tmp.");
    for (unsigned char byte : random) absl::StrAppend(&temp_name, absl::Hex(byte, absl::kZeroPad2));
    int fd = ::openat(dir_fd, temp_name.c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) return std::make_pair(fd, std::move(temp_name));
    if (errno != EEXIST) return ErrnoError("cannot create a temp file beside", path, errno);
  }
  return absl::AlreadyExistsError(
      absl::StrCat("cannot create a temp file beside ", path, ": 16 random names were taken"));
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
  const std::string dir = DirectoryOf(path);
  const std::string name = BaseName(path);
  if (name.empty() || name == "." || name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("cannot write \"", path, "\": not a file name"));
  }
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return ErrnoError("cannot open directory", dir, errno);
  absl::Cleanup close_dir = [dir_fd] { ::close(dir_fd); };
  if (absl::Status target = CheckTarget(dir_fd, path, name); !target.ok()) return target;
  if (Stop(interrupt, AtomicWriteStep::kWriteTemp)) {
    return absl::AbortedError(absl::StrCat("write of ", path, " interrupted before the temp file"));
  }
  absl::StatusOr<std::pair<int, std::string>> temp = CreateTemp(dir_fd, path, name);
  if (!temp.ok()) return temp.status();
  const int fd = temp->first;
  const std::string& temp_name = temp->second;
  const std::string temp_path = absl::StrCat(dir, "/", temp_name);
  {
    absl::Cleanup close_fd = [fd] { ::close(fd); };
    absl::Status written = WriteAll(fd, contents, temp_path);
    if (written.ok() && ::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
      written = ErrnoError("cannot chmod", temp_path, errno);
    }
    if (written.ok() && ::fsync(fd) != 0) written = ErrnoError("cannot fsync", temp_path, errno);
    if (!written.ok()) {
      ::unlinkat(dir_fd, temp_name.c_str(), 0);
      return written;
    }
  }
  if (Stop(interrupt, AtomicWriteStep::kRename)) {
    return absl::AbortedError(absl::StrCat("write of ", path, " interrupted before the rename"));
  }
  // Checked again right before the rename. rename(2) replaces a symlink itself and never
  // writes through it, so a link planted after this check redirects nothing either.
  absl::Status target = CheckTarget(dir_fd, path, name);
  if (target.ok() && ::renameat(dir_fd, temp_name.c_str(), dir_fd, name.c_str()) != 0) {
    target = ErrnoError(absl::StrCat("cannot rename ", temp_path, " to"), path, errno);
  }
  if (!target.ok()) {
    ::unlinkat(dir_fd, temp_name.c_str(), 0);
    return target;
  }
  if (Stop(interrupt, AtomicWriteStep::kSyncDir)) {
    return absl::AbortedError(absl::StrCat("write of ", path, " interrupted before the dir sync"));
  }
  if (::fsync(dir_fd) != 0) return ErrnoError("cannot fsync directory", dir, errno);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> ReadFileIfExists(const std::string& path) {
  // O_NOFOLLOW: our files are never symlinks, and one planted there is not read through.
  // O_NONBLOCK: a FIFO planted there must not block the reader; it is refused below.
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open ", path,
                       ": it is a symlink; carp_exec never reads its files through a "
                       "symlink: remove it"));
    }
    return ErrnoError("cannot open", path, errno);
  }
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", path, ": not a regular file; remove it"));
  }
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
