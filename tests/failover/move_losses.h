#pragma once
// Requests lost in flight at a VIP move: the one rule the failover checks apply to the probe.
//
// A request whose TCP connection is open at the instant the VIP changes node is lost whatever
// stopped the task: the client's next packet reaches the other node, which answers with a reset
// (or, for a SYN caught mid-move, nothing: a timeout). On the keepalived test bed about 3 moves in
// 120 catch one, with every stop procedure. Such a failure is excused, one per move at most; a
// refused connection never is (the VIP led to a node with no server), nor any other error.
//
// The same rule, with the same windows and error classes, is caught_by_move in
// tests/failover/move_losses.py (used by scripts/demo_run.py and testbed_selftest);
// move_losses_cases.txt holds the cases both unit tests check, so the two cannot drift apart.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/failover/testbed_env.h"

namespace carp_exec::failover_test {

// A witness may see a move a few ms after the traffic switched, so the window reaches back further
// than forward. MOVE_WINDOW_BEFORE/AFTER in move_losses.py. Every check takes its moves from the
// kernel's address events in the edges (AddressMonitor here, the test bed's addr.log read by
// vip_moves.py in Python), never from keepalived's notify hook, which can run hundreds of ms late.
inline constexpr absl::Duration kMoveWindowBefore = absl::Milliseconds(60);
inline constexpr absl::Duration kMoveWindowAfter = absl::Milliseconds(20);

// One VIP move as the kernel saw it: the first and the last sign (the VIP added on the new node,
// deleted on the old one, in either order); equal when there is one.
struct VipMove {
  absl::Time first;
  absl::Time last;
};
// The move seen by whichever of two witnesses saw it; nullopt when neither did.
std::optional<VipMove> MoveSeenBy(std::optional<absl::Time> one, std::optional<absl::Time> other);

// True for the probe's error texts that a move explains: they start with ConnectionResetError,
// TimeoutError, BrokenPipeError or RemoteDisconnected (MOVE_ERRORS in move_losses.py).
bool IsMoveError(absl::string_view error);

// The index in `moves` of the move that caught `request`, or nullopt. Caught: the request failed
// with a move error and [start, start + latency] overlaps [first - kMoveWindowBefore,
// last + kMoveWindowAfter]; the earliest such move counts.
std::optional<size_t> CaughtByMove(const ProbeRequest& request, const std::vector<VipMove>& moves);

struct MoveLossTally {
  int64_t total = 0;
  int64_t failed = 0;
  int64_t at_move = 0;            // failed and caught by a move
  int64_t other = 0;              // failed for any other reason
  std::vector<int64_t> per_move;  // how many each move caught

  int64_t MostAtOneMove() const;
  // The verdict every check uses: nothing lost but in flight at a move, one per move at most.
  bool Acceptable() const { return other == 0 && MostAtOneMove() <= 1; }
  // "40 requests, 1 failed: 1 reset or timed out in flight at a VIP move (per move: 1, 0), 0 other"
  std::string Describe() const;
};
MoveLossTally TallyMoveLosses(const std::vector<ProbeRequest>& requests,
                              const std::vector<VipMove>& moves);

}  // namespace carp_exec::failover_test
