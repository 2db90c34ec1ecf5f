#include "driver/tasks/task_errors.h"

#include <cerrno>

#include "absl/strings/cord.h"

namespace carp_exec::tasks {
namespace {
constexpr char kRecoverableUrl[] = "type.carp-exec/carp_exec.tasks.Recoverable";
}  // namespace

absl::Status MarkRecoverable(absl::Status status) {
  if (!status.ok()) status.SetPayload(kRecoverableUrl, absl::Cord("1"));
  return status;
}

bool IsRecoverable(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kRecoverableUrl).has_value();
}

bool IsTransientErrno(int error_number) {
  switch (error_number) {
    case EAGAIN:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case EINTR:
    case ENOSPC:
    case ENXIO:  // a FIFO without its reader yet: logmon may still be starting
      return true;
    default:
      return false;
  }
}

}  // namespace carp_exec::tasks
