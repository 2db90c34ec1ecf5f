#include "driver/operator/live_marker.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "driver/failover/failover_files.h"

namespace carp_exec::operator_cli {
namespace {

absl::Status ErrnoError(absl::string_view what, absl::string_view path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::StatusOr<std::string> ReadAll(int fd, absl::string_view path) {
  std::string text;
  char buffer[512];
  off_t offset = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buffer, sizeof(buffer), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot read", path);
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    offset += n;
    if (text.size() > 4096) break;  // ours is a few lines; ignore the rest of a foreign file
  }
  return text;
}

}  // namespace

std::string LiveMarkerPath(absl::string_view state_dir) {
  return failover::CheckLivePath(state_dir);
}

std::string FormatLiveMarker(const LiveMarker& marker) {
  return absl::StrCat(
      "# carp_exec check --live is demoting this node for a test cycle; removed when it ends.\n"
      "# Left behind (and not locked): that run was interrupted; the next check --live restores\n"
      "# its share.\n",
      "pid ", marker.pid, "\n", "started ",
      absl::FormatTime(absl::RFC3339_full, marker.started, absl::UTCTimeZone()), "\n");
}

LiveMarker ParseLiveMarker(absl::string_view text) {
  LiveMarker marker;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&line, "pid ")) {
      (void)absl::SimpleAtoi(line, &marker.pid);
    } else if (absl::ConsumePrefix(&line, "started ")) {
      std::string error;
      absl::Time when;
      if (absl::ParseTime(absl::RFC3339_full, line, &when, &error)) marker.started = when;
    }
  }
  return marker;
}

absl::StatusOr<std::optional<LiveMarkerView>> ReadLiveMarker(absl::string_view state_dir) {
  const std::string path = LiveMarkerPath(state_dir);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<LiveMarkerView>();
    return ErrnoError("cannot open", path);
  }
  absl::StatusOr<std::string> text = ReadAll(fd, path);
  LiveMarkerView view;
  // A shared lock fails while check --live holds its exclusive one; ours is dropped at close.
  view.running = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  if (!text.ok()) return text.status();
  if (text->empty() && !view.running) return std::optional<LiveMarkerView>();
  view.marker = ParseLiveMarker(*text);
  return std::optional<LiveMarkerView>(view);
}

absl::StatusOr<std::unique_ptr<LiveMarkerLock>> LiveMarkerLock::Acquire(
    absl::string_view state_dir) {
  const std::string path = LiveMarkerPath(state_dir);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot open", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    absl::StatusOr<std::string> text = ReadAll(fd, path);
    ::close(fd);
    if (error == EWOULDBLOCK) {
      const LiveMarker other = ParseLiveMarker(text.ok() ? *text : "");
      return absl::FailedPreconditionError(
          absl::StrCat("another carp_exec check --live (pid ", other.pid,
                       ") is running on this state dir; wait for it to finish"));
    }
    errno = error;
    return ErrnoError("cannot lock", path);
  }
  std::unique_ptr<LiveMarkerLock> lock(new LiveMarkerLock(path, fd));
  absl::StatusOr<std::string> text = ReadAll(fd, path);
  if (!text.ok()) return text.status();
  if (!absl::StripAsciiWhitespace(*text).empty()) lock->interrupted_ = ParseLiveMarker(*text);
  return lock;
}

LiveMarkerLock::~LiveMarkerLock() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status LiveMarkerLock::Record(const LiveMarker& marker) {
  // Rewritten in place: a rename would put a new, unlocked file under the path.
  const std::string text = FormatLiveMarker(marker);
  if (::ftruncate(fd_, 0) != 0) return ErrnoError("cannot truncate", path_);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::pwrite(fd_, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot write", path_);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd_) != 0) return ErrnoError("cannot fsync", path_);
  return absl::OkStatus();
}

absl::Status LiveMarkerLock::Remove() {
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) return ErrnoError("cannot remove", path_);
  interrupted_.reset();
  return absl::OkStatus();
}

}  // namespace carp_exec::operator_cli
