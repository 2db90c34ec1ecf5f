#pragma once
// The failover code's names for the shared atomic-file helpers (driver/tasks/atomic_file.h):
// the demotion ledger, the hand-over list and the keepalived track_file use the same
// crash-safe writer as the task records.

#include "driver/tasks/atomic_file.h"

namespace carp_exec::failover {

using tasks::AtomicWriteInterrupt;
using tasks::AtomicWriteStep;
using tasks::MakeDirectories;
using tasks::ReadFileIfExists;
using tasks::WriteFileAtomically;

}  // namespace carp_exec::failover
