#pragma once
// Which task errors may succeed on retry. The service adapter turns IsRecoverable into Nomad's
// RecoverableError detail, the only way Nomad's restart policy gets a second chance at a
// StartTask failure.

#include "absl/status/status.h"

namespace carp_exec::tasks {

// Returns `status` with the recoverable mark attached (no-op for OK).
absl::Status MarkRecoverable(absl::Status status);

// True if `status` carries the mark set by MarkRecoverable.
bool IsRecoverable(const absl::Status& status);

// Whether a failure with this errno value is worth retrying (EAGAIN, ENOMEM, EMFILE, ...).
bool IsTransientErrno(int error_number);

}  // namespace carp_exec::tasks
