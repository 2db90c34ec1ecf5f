#include "driver/failover/failover_files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "driver/failover/atomic_file.h"

namespace carp_exec::failover {
namespace {

// Nomad's ids are "<uuid>/<task name>/<8 chars>"; task names are short. Anything much longer,
// or with whitespace or control bytes, did not come from us.
constexpr size_t kMaxTaskIdLength = 512;

absl::Status ErrnoError(absl::string_view what, absl::string_view path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

bool PlausibleTaskId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxTaskIdLength) return false;
  for (char c : id) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
  }
  return true;
}

std::string ReadSmall(int fd) {
  char buffer[256];
  ssize_t n = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (n <= 0) return "";
  return std::string(absl::StripAsciiWhitespace(absl::string_view(buffer, n)));
}

}  // namespace

std::string FailoverDirPath(absl::string_view state_dir) {
  return absl::StrCat(state_dir, "/failover");
}
std::string LockPath(absl::string_view state_dir) {
  return absl::StrCat(state_dir, "/failover/lock");
}
std::string LedgerPath(absl::string_view state_dir) {
  return absl::StrCat(state_dir, "/failover/ledger");
}
std::string HandoversPath(absl::string_view state_dir) {
  return absl::StrCat(state_dir, "/failover/handovers");
}
std::string CheckLivePath(absl::string_view state_dir) {
  return absl::StrCat(state_dir, "/failover/check-live");
}

std::string FormatHandovers(const std::vector<std::string>& task_ids) {
  std::string text = absl::StrJoin(task_ids, "\n");
  if (!text.empty()) text.push_back('\n');
  return text;
}

absl::StatusOr<std::vector<std::string>> ParseHandovers(absl::string_view text) {
  std::vector<std::string> ids;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (line.empty()) continue;
    if (!PlausibleTaskId(line)) {
      return absl::DataLossError(absl::StrCat(
          "line ", line_number, " is not a task id (", line.size(),
          " bytes, whitespace or control bytes, or longer than ", kMaxTaskIdLength,
          "); the file holds one Nomad task id per line. Remove the file only if no guarded "
          "task is being stopped (`carp_exec status`)"));
    }
    ids.emplace_back(line);
  }
  return ids;
}

absl::StatusOr<std::vector<std::string>> ReadHandovers(absl::string_view state_dir) {
  const std::string path = HandoversPath(state_dir);
  absl::StatusOr<std::optional<std::string>> text = ReadFileIfExists(path);
  if (!text.ok()) return text.status();
  if (!text->has_value()) return std::vector<std::string>();
  absl::StatusOr<std::vector<std::string>> ids = ParseHandovers(**text);
  if (!ids.ok()) return absl::DataLossError(absl::StrCat(path, ": ", ids.status().message()));
  return ids;
}

absl::Status WriteHandovers(absl::string_view state_dir, const std::vector<std::string>& ids) {
  if (absl::Status s = MakeDirectories(FailoverDirPath(state_dir)); !s.ok()) return s;
  return WriteFileAtomically(HandoversPath(state_dir), FormatHandovers(ids), 0600);
}

absl::StatusOr<std::unique_ptr<FailoverLock>> FailoverLock::Acquire(absl::string_view state_dir,
                                                                    absl::string_view holder) {
  if (absl::Status s = MakeDirectories(FailoverDirPath(state_dir)); !s.ok()) return s;
  const std::string path = LockPath(state_dir);
  // O_NOFOLLOW: a planted symlink must not make root create or lock another file.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot open the failover lock", path);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "the failover lock ", path, " is not a regular file owned by uid ", ::geteuid(),
        "; remove it (it is recreated) and check who can write ", FailoverDirPath(state_dir)));
  }
  // A hard link would make the ftruncate below empty whatever file it also names (hard links
  // to root-owned files can be planted where protected_hardlinks is off, or on the BSDs).
  if (st.st_nlink != 1) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "the failover lock ", path, " has ", st.st_nlink,
        " links (a hard link to another file?); refusing to use it. Remove it (it is recreated) "
        "and check who can write ",
        FailoverDirPath(state_dir)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    const std::string other = ReadSmall(fd);
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the failover state in ", FailoverDirPath(state_dir), " is in use by ",
          other.empty() ? "another process" : other, " (lock ", path,
          "); only one process may change the demotion at a time. Stop it first (for "
          "check --live: stop the Nomad client, or run the check when the plugin is not "
          "running)"));
    }
    errno = error;
    return ErrnoError("cannot lock", path);
  }
  const std::string text = absl::StrCat("pid ", ::getpid(), " ", holder, "\n");
  // Informational only: a failure here does not weaken the lock.
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, text.data(), text.size(), 0);
  return std::unique_ptr<FailoverLock>(new FailoverLock(fd));
}

FailoverLock::~FailoverLock() { ::close(fd_); }

}  // namespace carp_exec::failover
