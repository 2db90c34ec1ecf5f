#pragma once
// Looking up a path that a job (or an `alloc exec` client) names, relative to a directory the
// plugin trusts (the task dir), without ever leaving that directory. The plugin runs as root:
// a lookup that followed `../` or a symlink out of the task dir would let a job make root
// stat, open or (before issue 9) chmod any host file.
//
// Rules, the same on every platform: `..` may not climb above the root; a relative symlink is
// followed if it stays beneath the root; an absolute symlink is refused (its meaning depends on
// the host, not on the task dir); at most 40 symlinks per lookup (Linux's ELOOP bound). On
// Linux the kernel enforces this with openat2(RESOLVE_BENEATH) (linux fs/namei.c); elsewhere,
// or where openat2 is missing or filtered, a walk of openat(O_NOFOLLOW|O_DIRECTORY) per
// component does the same.

#include <sys/stat.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace carp_exec::tasks {

// kAuto: openat2 where the kernel has it, else the portable walk. kPortableWalk: always the
// walk (tests run both on Linux).
enum class BeneathWalk { kAuto, kPortableWalk };

struct BeneathEntry {
  // `<root_path>/<relative>` with empty and "." components dropped: the name to hand to execve
  // or chdir. It reaches the file checked here as long as nobody changes the tree; execve and
  // chdir then run with the task user's rights, so a swap after the check gains nothing.
  std::string path;
  struct stat st;  // of the file itself (symlinks followed beneath the root)
};

// Looks `relative` up beneath the directory `root_path` (trusted; opened with O_DIRECTORY) and
// stats what it names without opening it for I/O (FIFOs and devices are never opened).
// Errors, each naming `what` (e.g. "task config: command \"x\""), the path and the fix:
//   NotFound          a component is missing or not a directory (also: root_path missing)
//   PermissionDenied  the path leaves root_path (`..` above it, an absolute symlink, or a
//                     symlink whose target climbs out); only this case has this code
//   InvalidArgument   `relative` is absolute, empty or over 4095 bytes
//   FailedPrecondition other errors (ELOOP, EACCES, more than 256 directories deep, ...)
absl::StatusOr<BeneathEntry> StatBeneath(absl::string_view root_path, absl::string_view relative,
                                         absl::string_view what,
                                         BeneathWalk walk = BeneathWalk::kAuto);

}  // namespace carp_exec::tasks
