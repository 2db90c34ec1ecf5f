#include "tests/failover/move_losses.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace carp_exec::failover_test {

std::optional<VipMove> MoveSeenBy(std::optional<absl::Time> one, std::optional<absl::Time> other) {
  if (!one && !other) return std::nullopt;
  if (!one) return VipMove{*other, *other};
  if (!other) return VipMove{*one, *one};
  return VipMove{std::min(*one, *other), std::max(*one, *other)};
}

bool IsMoveError(absl::string_view error) {
  for (absl::string_view kind :
       {"ConnectionResetError", "TimeoutError", "BrokenPipeError", "RemoteDisconnected"}) {
    if (absl::StartsWith(error, kind)) return true;
  }
  return false;
}

std::optional<size_t> CaughtByMove(const ProbeRequest& request, const std::vector<VipMove>& moves) {
  if (request.ok || !IsMoveError(request.error)) return std::nullopt;
  const absl::Time end = request.start + request.latency;
  for (size_t i = 0; i < moves.size(); ++i) {
    if (request.start <= moves[i].last + kMoveWindowAfter &&
        end >= moves[i].first - kMoveWindowBefore) {
      return i;
    }
  }
  return std::nullopt;
}

int64_t MoveLossTally::MostAtOneMove() const {
  return per_move.empty() ? 0 : *std::max_element(per_move.begin(), per_move.end());
}

std::string MoveLossTally::Describe() const {
  return absl::StrCat(total, " requests, ", failed, " failed: ", at_move,
                      " reset or timed out in flight at a VIP move (per move: ",
                      per_move.empty() ? "no move" : absl::StrJoin(per_move, ", "), "), ", other,
                      " other");
}

MoveLossTally TallyMoveLosses(const std::vector<ProbeRequest>& requests,
                              const std::vector<VipMove>& moves) {
  MoveLossTally tally;
  tally.total = static_cast<int64_t>(requests.size());
  tally.per_move.assign(moves.size(), 0);
  for (const ProbeRequest& request : requests) {
    if (request.ok) continue;
    ++tally.failed;
    if (std::optional<size_t> move = CaughtByMove(request, moves)) ++tally.per_move[*move];
  }
  for (int64_t n : tally.per_move) tally.at_move += n;
  tally.other = tally.failed - tally.at_move;
  return tally;
}

}  // namespace carp_exec::failover_test
