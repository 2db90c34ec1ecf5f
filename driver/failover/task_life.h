#pragma once
// The failover life of one guarded task, as the coordinator (its only owner) tracks it, and
// the table of allowed transitions. The coordinator checks every change against the table; a
// change the table does not list is a bug in carp_exec: it is logged as one and not applied
// (the plugin keeps running). driver/failover/README.md prints the same table.
//
//   (none)     the coordinator does not know the task (yet, or any more)
//   starting   StartTask ran; its ready check has not passed yet
//   recovered  found alive at plugin start or by RecoverTask; serving as far as we know
//   ready      its ready check passed (or it has no ready block): it may hold the VIP
//   not ready  ready.timeout passed without a pass; probed again at kLateReadyInterval
//   stopping   a hand-over began (StopTask, a forced DestroyTask, or recorded before a crash)
//   exited     its process ended
//
// DestroyTask removes the task from any state; that is not a transition.

#include <array>

#include "absl/strings/string_view.h"

namespace carp_exec::failover {

enum class Life { kNone, kStarting, kRecovered, kReady, kNotReady, kStopping, kExited };

// "(none)", "starting", "recovered", "ready", "not ready", "stopping", "exited".
absl::string_view LifeName(Life life);

struct LifeTransition {
  Life from;
  Life to;
  const char* when;  // what causes it, for the README and the bug log line
};

// Every allowed change. A task entering the same state again is not a transition (ignored).
inline constexpr std::array<LifeTransition, 19> kLifeTransitions = {{
    {Life::kNone, Life::kStarting, "StartTask"},
    {Life::kNone, Life::kRecovered, "plugin start finds it alive, or RecoverTask"},
    {Life::kNone, Life::kStopping, "plugin start finds its hand-over recorded, or StopTask"},
    {Life::kStarting, Life::kReady, "ready check passed (or no ready block)"},
    {Life::kStarting, Life::kNotReady, "ready.timeout passed"},
    {Life::kStarting, Life::kStopping, "StopTask or a forced DestroyTask"},
    {Life::kStarting, Life::kExited, "process ended (a crash)"},
    {Life::kRecovered, Life::kReady, "ready check passed (or no ready block)"},
    {Life::kRecovered, Life::kNotReady, "ready.timeout passed"},
    {Life::kRecovered, Life::kStopping, "StopTask or a forced DestroyTask"},
    {Life::kRecovered, Life::kExited, "process ended (a crash)"},
    {Life::kReady, Life::kStopping, "StopTask or a forced DestroyTask"},
    {Life::kReady, Life::kExited, "process ended (a crash)"},
    {Life::kNotReady, Life::kReady, "late ready: a slower probe passed"},
    {Life::kNotReady, Life::kStopping, "StopTask or a forced DestroyTask"},
    {Life::kNotReady, Life::kExited, "process ended (a crash)"},
    {Life::kStopping, Life::kRecovered,
     "no StopTask within recover_stop_grace after a relaunch, or a forced destroy failed"},
    {Life::kStopping, Life::kExited, "process ended (the stop)"},
    {Life::kExited, Life::kStopping, "StopTask of a task that already ended"},
}};

// Whether `from → to` is in kLifeTransitions.
bool LifeTransitionAllowed(Life from, Life to);

}  // namespace carp_exec::failover
