#pragma once
// Descriptor ownership for the kernel sockets, pipes and inotify handles of fingerprint/ and
// driver/failover/: one class closes them on every path (errors, constructors that throw), and
// one self-pipe wakes a thread out of poll(2).
//
// UniqueFd: owns one descriptor (or none: -1). Move-only; closes it on destruction or Reset.
// WakePipe: a non-blocking, close-on-exec pipe. Wake() may be called from any thread (it is one
// write(2), async-signal-safe) and leaves read_fd() readable until Drain(); a pipe already full
// is already readable, so a lost byte loses no wake-up.

#include <utility>

#include "absl/status/statusor.h"

namespace carp_exec::fingerprint {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it.
  int release() { return std::exchange(fd_, -1); }
  void Reset();

 private:
  int fd_ = -1;
};

class WakePipe {
 public:
  // pipe2(O_CLOEXEC | O_NONBLOCK); ResourceExhausted naming errno when the process is out of
  // descriptors.
  static absl::StatusOr<WakePipe> Open();

  int read_fd() const { return read_.get(); }
  void Wake() const;
  // Empties the pipe (bounded: it holds at most a pipe buffer).
  void Drain() const;

 private:
  WakePipe(UniqueFd read, UniqueFd write) : read_(std::move(read)), write_(std::move(write)) {}
  UniqueFd read_;
  UniqueFd write_;
};

}  // namespace carp_exec::fingerprint
