#pragma once
// Closing inherited descriptors, async-signal-safe (used between fork and exec).

namespace carp_exec::tasks {

// Closes every descriptor >= `lowest` except `keep` (-1 keeps none).
void CloseAllExcept(int lowest, int keep);

}  // namespace carp_exec::tasks
