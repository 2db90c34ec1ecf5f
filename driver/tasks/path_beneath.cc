#include "driver/tasks/path_beneath.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

#if defined(__linux__) && __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#include <sys/syscall.h>
#define CARP_HAVE_OPENAT2 1
#endif

namespace carp_exec::tasks {
namespace {

// Linux's own bound on symlinks followed in one lookup (MAXSYMLINKS, include/linux/namei.h).
constexpr int kMaxSymlinks = 40;
// The walk keeps one directory fd per level (so `..` returns to where it came from); a job
// must not make the plugin hold thousands of fds with a deep tree. Lookups of commands never
// need more; PATH_MAX bounds the name as the kernel would.
constexpr size_t kMaxDepth = 256;
constexpr size_t kMaxPathBytes = 4095;

std::vector<std::string> Components(absl::string_view path) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part != ".") out.emplace_back(part);
  }
  return out;
}

absl::Status Outside(absl::string_view what, absl::string_view root, absl::string_view relative,
                     absl::string_view why) {
  return absl::PermissionDeniedError(absl::StrCat(
      what, ": \"", relative, "\" resolves outside \"", root, "\" (", why,
      "); a relative path must stay inside the task dir: use an absolute path for a host "
      "program, or put the file (not a symlink to it) in the task dir"));
}

absl::Status ErrnoFailure(absl::string_view what, absl::string_view path, int error_number) {
  std::string message = absl::StrCat(what, ": \"", path, "\": ", std::strerror(error_number));
  if (error_number == ENOENT || error_number == ENOTDIR) return absl::NotFoundError(message);
  return absl::FailedPreconditionError(absl::StrCat(message, "; fix the path or its permissions"));
}

// The portable walk: one openat(O_NOFOLLOW|O_DIRECTORY) per directory, readlinkat for
// symlinks, a stack of directory fds so `..` returns to the fd we came from (never to what the
// name `..` points at now).
absl::StatusOr<struct stat> WalkBeneath(int root_fd, absl::string_view root,
                                        absl::string_view relative, absl::string_view what) {
  std::vector<int> dirs{root_fd};  // dirs[0] is borrowed; the others are ours
  absl::Cleanup close_dirs = [&dirs] {
    for (size_t i = 1; i < dirs.size(); ++i) close(dirs[i]);
  };
  std::vector<std::string> components = Components(relative);
  std::deque<std::string> pending(components.begin(), components.end());
  int symlinks = 0;
  struct stat st;
  if (fstat(root_fd, &st) != 0) return ErrnoFailure(what, root, errno);
  while (!pending.empty()) {
    std::string name = std::move(pending.front());
    pending.pop_front();
    if (name == "..") {
      if (dirs.size() == 1) return Outside(what, root, relative, "\"..\" climbs above it");
      close(dirs.back());
      dirs.pop_back();
      if (fstat(dirs.back(), &st) != 0) return ErrnoFailure(what, root, errno);
      continue;
    }
    if (fstatat(dirs.back(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoFailure(what, absl::StrCat(root, "/", relative), errno);
    }
    if (S_ISLNK(st.st_mode)) {
      if (++symlinks > kMaxSymlinks) {
        return ErrnoFailure(what, absl::StrCat(root, "/", relative), ELOOP);
      }
      char target[4096];
      ssize_t n = readlinkat(dirs.back(), name.c_str(), target, sizeof(target) - 1);
      if (n < 0) return ErrnoFailure(what, absl::StrCat(root, "/", relative), errno);
      absl::string_view link(target, static_cast<size_t>(n));
      if (!link.empty() && link[0] == '/') {
        return Outside(
            what, root, relative,
            absl::StrCat("symlink \"", name, "\" points to the absolute path \"", link, "\""));
      }
      std::vector<std::string> parts = Components(link);
      pending.insert(pending.begin(), parts.begin(), parts.end());
      continue;
    }
    if (pending.empty()) return st;  // the last component: stat only, never opened
    if (!S_ISDIR(st.st_mode)) {
      return ErrnoFailure(what, absl::StrCat(root, "/", relative), ENOTDIR);
    }
    if (dirs.size() > kMaxDepth) {
      return absl::FailedPreconditionError(absl::StrCat(what, ": \"", relative,
                                                        "\" is nested more than ", kMaxDepth,
                                                        " directories deep; shorten it"));
    }
    int fd = openat(dirs.back(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ErrnoFailure(what, absl::StrCat(root, "/", relative), errno);
    dirs.push_back(fd);
  }
  return st;  // the path named the root itself (e.g. ".")
}

#ifdef CARP_HAVE_OPENAT2
// nullopt when the kernel (or a seccomp filter) does not offer openat2.
std::optional<absl::StatusOr<struct stat>> Openat2Beneath(int root_fd, absl::string_view root,
                                                          absl::string_view relative,
                                                          absl::string_view what) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  std::string rel(relative);
  long fd = syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof(how));
  if (fd < 0) {
    int error_number = errno;
    if (error_number == ENOSYS || error_number == EPERM || error_number == E2BIG) {
      return std::nullopt;
    }
    if (error_number == EXDEV) {
      return absl::StatusOr<struct stat>(
          Outside(what, root, relative, "\"..\" climbs above it, or a symlink leads out"));
    }
    return absl::StatusOr<struct stat>(
        ErrnoFailure(what, absl::StrCat(root, "/", relative), error_number));
  }
  struct stat st;
  int rc = fstat(static_cast<int>(fd), &st);
  int error_number = errno;
  close(static_cast<int>(fd));
  if (rc != 0) return absl::StatusOr<struct stat>(ErrnoFailure(what, root, error_number));
  return absl::StatusOr<struct stat>(st);
}
#endif

}  // namespace

absl::StatusOr<BeneathEntry> StatBeneath(absl::string_view root_path, absl::string_view relative,
                                         absl::string_view what, BeneathWalk walk) {
  if (relative.empty() || relative[0] == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": \"", relative, "\" is not a relative path"));
  }
  if (relative.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the path is ", relative.size(),
                                                   " bytes, over the ", kMaxPathBytes,
                                                   "-byte limit; shorten it"));
  }
  if (Components(relative).size() > kMaxDepth) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": \"", relative.substr(0, 64),
                                                      "...\" has more than ", kMaxDepth,
                                                      " components; shorten it"));
  }
  std::string root(root_path);
  int root_fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return ErrnoFailure(what, root, errno);
  absl::Cleanup close_root = [root_fd] { close(root_fd); };
  std::optional<absl::StatusOr<struct stat>> st;
#ifdef CARP_HAVE_OPENAT2
  if (walk == BeneathWalk::kAuto) st = Openat2Beneath(root_fd, root, relative, what);
#else
  (void)walk;
#endif
  if (!st.has_value()) st = WalkBeneath(root_fd, root, relative, what);
  if (!st->ok()) return st->status();
  BeneathEntry entry;
  std::vector<std::string> parts = Components(relative);
  const char* slash = !root.empty() && root.back() == '/' ? "" : "/";
  entry.path = parts.empty() ? root : absl::StrCat(root, slash, absl::StrJoin(parts, "/"));
  entry.st = **st;
  return entry;
}

}  // namespace carp_exec::tasks
