#include "fingerprint/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace carp_exec::fingerprint {

void UniqueFd::Reset() {
  // close(2) releases the descriptor even when it reports EINTR (Linux fs/open.c, close_fd
  // before the flush; OpenBSD and FreeBSD kern/kern_descrip.c, the table entry freed first):
  // never retried, or a retry could close a descriptor another thread just opened.
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::StatusOr<WakePipe> WakePipe::Open() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  return WakePipe(UniqueFd(fds[0]), UniqueFd(fds[1]));
}

void WakePipe::Wake() const {
  const char byte = 1;
  // EAGAIN: the pipe is full, so it is readable already.
  (void)!::write(write_.get(), &byte, 1);
}

void WakePipe::Drain() const {
  std::array<char, 256> buffer;
  // Bounded: a Wake writes one byte, and the pipe's owner wakes it a handful of times.
  for (int i = 0; i < 256; ++i) {
    if (::read(read_.get(), buffer.data(), buffer.size()) <= 0) return;
  }
}

}  // namespace carp_exec::fingerprint
