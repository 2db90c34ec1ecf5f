#pragma once
// When the coordinator tries its failover setup again after it failed (a tool that timed out
// once, a ledger I/O error, a group that did not exist yet): every delay is bounded, and the
// attempts never stop, so the node heals without an agent restart (issue 10 item 1).
//
// And when a failed live check (the backend's and observer's CheckUsable, re-run with each
// status refresh) makes failover "unusable": only after several consecutive failures, so one
// slow ifconfig does not flip the node attribute driver.carp_exec.failover (every attribute
// change re-registers the node and re-evaluates every job on it: nomad/node_endpoint.go,
// shouldCreateNodeEval).

#include <algorithm>

#include "absl/time/time.h"

namespace carp_exec::failover {

inline constexpr absl::Duration kSetupRetryFirst = absl::Seconds(1);
inline constexpr absl::Duration kSetupRetryMax = absl::Seconds(60);
// Live-check failures in a row (one per status refresh, every ~5 s) before failover is
// reported unusable.
inline constexpr int kLiveCheckFailuresToUnusable = 3;

// The delay before retry number `attempt` (0 = the first retry): 1 s, 2 s, 4 s, ... 60 s.
inline absl::Duration SetupRetryDelay(int attempt) {
  absl::Duration delay = kSetupRetryFirst;
  for (int i = 0; i < attempt && delay < kSetupRetryMax; ++i) delay *= 2;
  return std::min(delay, kSetupRetryMax);
}

}  // namespace carp_exec::failover
