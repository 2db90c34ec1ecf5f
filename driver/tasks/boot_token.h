#pragma once
// A token that names the running boot of this node and that only a reboot changes: the
// demotion ledger records it, so a share recorded before a reboot (the kernel's demote counter
// starts from 0 again) is never taken for one still applied.
//
// Linux: the kernel's /proc/sys/kernel/random/boot_id. OpenBSD and FreeBSD have no such thing,
// and kern.boottime is not one: it is the wall clock minus uptime, so every clock step moves it
// (boot_relative_time.h). There the token is a random id in a file under /var/run, created once
// per boot by whoever asks first; rc empties /var/run at every boot (OpenBSD etc/rc: "rm -rf --
// *" in /var/run, which skips dot files, hence a name without a leading dot; FreeBSD
// libexec/rc/rc.d/cleanvar deletes its files), so the next boot gets a new one.
//
// The file is hostile ground like everything under a shared directory: it is created with
// O_EXCL (via a private temporary file and link(2), so a reader never sees it half written) and
// opened with O_NOFOLLOW; it must be a regular file owned by us, writable by nobody else, and
// hold exactly 32 lowercase hex digits and a newline. Anything else is an error naming the
// file and the fix, never silently replaced.

#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace carp_exec::tasks {

// Where the BSDs keep the token.
inline constexpr char kBootTokenPath[] = "/var/run/carp_exec.boot";
// Linux's own boot identity.
inline constexpr char kLinuxBootIdPath[] = "/proc/sys/kernel/random/boot_id";

// The running boot's token: Linux's boot_id, elsewhere ReadOrCreateBootTokenFile(
// kBootTokenPath). Errors name the file and what to do.
absl::StatusOr<std::string> CurrentBootToken();

// The token in `path`, creating it with a fresh random id when it does not exist yet.
// `random_hex` returns 32 lowercase hex digits (tests pass a fixed one; the default reads the
// kernel's entropy with getentropy). The directory must exist and be writable only by us.
absl::StatusOr<std::string> ReadOrCreateBootTokenFile(
    const std::string& path, const std::function<absl::StatusOr<std::string>()>& random_hex = {});

// Linux's boot_id file, trimmed; an error when it is missing or not a UUID-shaped line.
absl::StatusOr<std::string> ReadLinuxBootId(const std::string& path = kLinuxBootIdPath);

}  // namespace carp_exec::tasks
