#pragma once
// Whole-file reads and crash-safe whole-file replacement: the task records of the state
// directory (spec, pid, exit), the demotion ledger and the keepalived track_file. A reader (another
// process, or we after a SIGKILL) sees either the old or the new contents, never a mix, and a
// completed write survives a power cut.

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace carp_exec::tasks {

// The steps of WriteFileAtomically, named so crash tests can stop between any two of them.
enum class AtomicWriteStep { kWriteTemp, kRename, kSyncDir };

// Called before each step; returning false abandons the write right there, as a SIGKILL would
// (the temporary file, if any, is left behind). Null means "never stop".
using AtomicWriteInterrupt = std::function<bool(AtomicWriteStep)>;

// Writes `contents` to `path` by writing a new temp file `path`.tmp.<random> (created with
// O_CREAT|O_EXCL|O_NOFOLLOW in the same directory, so nothing planted there is opened), fsync,
// rename over `path`, fsync of the directory. `mode` applies to the new file. The directory
// must exist. `path` must be missing or a regular file: a symlink or anything else there is
// FailedPrecondition naming it (never replaced, never written through). An interrupted write
// returns AbortedError and leaves the temporary file, as a crash would; a failed one removes it.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 int mode = 0644, const AtomicWriteInterrupt& interrupt = nullptr);

// The file's contents, or nullopt when it does not exist. Other failures (permission, a
// directory, I/O error) are errors that name the path; a symlink or a non-regular file (FIFO,
// device) at `path` is FailedPrecondition and is never read through or blocked on.
absl::StatusOr<std::optional<std::string>> ReadFileIfExists(const std::string& path);

// Creates `path` and missing parents with mode 0700 (like mkdir -p).
absl::Status MakeDirectories(const std::string& path);

}  // namespace carp_exec::tasks
