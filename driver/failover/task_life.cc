#include "driver/failover/task_life.h"

namespace carp_exec::failover {

absl::string_view LifeName(Life life) {
  switch (life) {
    case Life::kNone:
      return "(none)";
    case Life::kStarting:
      return "starting";
    case Life::kRecovered:
      return "recovered";
    case Life::kReady:
      return "ready";
    case Life::kNotReady:
      return "not ready";
    case Life::kStopping:
      return "stopping";
    case Life::kExited:
      return "exited";
  }
  return "unknown";
}

bool LifeTransitionAllowed(Life from, Life to) {
  for (const LifeTransition& t : kLifeTransitions) {
    if (t.from == from && t.to == to) return true;
  }
  return false;
}

}  // namespace carp_exec::failover
