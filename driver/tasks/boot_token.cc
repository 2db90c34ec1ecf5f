#include "driver/tasks/boot_token.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace carp_exec::tasks {
namespace {

constexpr size_t kTokenHexDigits = 32;

bool IsTokenText(absl::string_view text) {
  if (text.size() != kTokenHexDigits + 1 || text.back() != '\n') return false;
  for (char c : text.substr(0, kTokenHexDigits)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::StatusOr<std::string> RandomHex() {
  unsigned char bytes[kTokenHexDigits / 2];
  if (getentropy(bytes, sizeof(bytes)) != 0) {
    return absl::UnavailableError(
        absl::StrCat("boot token: getentropy failed: ", std::strerror(errno)));
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

// Reads the token file without following a symlink, blocking on a FIFO or trusting a file
// someone else could have written. nullopt-like NotFound when it does not exist.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return absl::NotFoundError(absl::StrCat("boot token ", path, " absent"));
    return absl::FailedPreconditionError(
        absl::StrCat("boot token: cannot open ", path, ": ", std::strerror(error),
                     error == ELOOP ? " (a symbolic link); remove it" : ""));
  }
  absl::Cleanup close_fd = [fd] { close(fd); };
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "boot token: ", path,
        " is not a regular file owned by this user and writable by nobody else; remove it (a "
        "new one is created, and carp_exec then treats the node as rebooted)"));
  }
  char buf[kTokenHexDigits + 2];
  ssize_t n;
  do {
    n = read(fd, buf, sizeof(buf));
  } while (n < 0 && errno == EINTR);
  const absl::string_view text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  if (!IsTokenText(text)) {
    return absl::FailedPreconditionError(
        absl::StrCat("boot token: ", path, " does not hold 32 hex digits and a newline (\"",
                     absl::CHexEscape(text), "\"); remove it"));
  }
  return std::string(text.substr(0, kTokenHexDigits));
}

// Writes a new token to a private temporary file and links it to `path`; EEXIST from link
// means another process won the race, which is fine: the caller reads theirs.
absl::Status CreateTokenFile(const std::string& path, const std::string& hex) {
  std::string temp = absl::StrCat(path, ".XXXXXX");
  std::vector<char> name(temp.begin(), temp.end());
  name.push_back('\0');
  const int fd = mkstemp(name.data());  // O_CREAT|O_EXCL, mode 0600
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat("boot token: cannot create a file next to ",
                                                      path, ": ", std::strerror(errno)));
  }
  temp.assign(name.data());
  absl::Cleanup remove_temp = [&temp] { unlink(temp.c_str()); };
  const std::string text = absl::StrCat(hex, "\n");
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       fchmod(fd, 0644) == 0;
  const int write_error = errno;
  close(fd);
  if (!written) {
    return absl::FailedPreconditionError(
        absl::StrCat("boot token: cannot write ", temp, ": ", std::strerror(write_error)));
  }
  if (link(temp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("boot token: cannot create ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadOrCreateBootTokenFile(
    const std::string& path, const std::function<absl::StatusOr<std::string>()>& random_hex) {
  absl::StatusOr<std::string> existing = ReadTokenFile(path);
  if (!absl::IsNotFound(existing.status())) return existing;
  absl::StatusOr<std::string> hex = random_hex ? random_hex() : RandomHex();
  if (!hex.ok()) return hex.status();
  if (!IsTokenText(absl::StrCat(*hex, "\n"))) {
    return absl::InternalError(absl::StrCat("boot token: the random id \"", absl::CHexEscape(*hex),
                                            "\" is not 32 lowercase hex digits"));
  }
  if (absl::Status created = CreateTokenFile(path, *hex); !created.ok()) return created;
  return ReadTokenFile(path);
}

absl::StatusOr<std::string> ReadLinuxBootId(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("boot token: cannot open ", path, ": ",
                                               std::strerror(errno),
                                               "; mount procfs (mount -t proc proc /proc)"));
  }
  char buf[64];
  ssize_t n;
  do {
    n = read(fd, buf, sizeof(buf));
  } while (n < 0 && errno == EINTR);
  close(fd);
  const absl::string_view id =
      absl::StripAsciiWhitespace(absl::string_view(buf, n > 0 ? static_cast<size_t>(n) : 0));
  if (id.size() != 36) {  // a UUID: 8-4-4-4-12
    return absl::UnavailableError(
        absl::StrCat("boot token: ", path, " holds \"", absl::CHexEscape(id), "\", not a boot id"));
  }
  return std::string(id);
}

absl::StatusOr<std::string> CurrentBootToken() {
#if defined(__linux__)
  return ReadLinuxBootId();
#else
  return ReadOrCreateBootTokenFile(kBootTokenPath);
#endif
}

}  // namespace carp_exec::tasks
