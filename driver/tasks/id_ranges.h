#pragma once
// Sets of user or group ids, written like raw_exec's `denied_host_uids`: "0-100,600". The text
// is parsed once, by config::ParseIdRanges; this is the set the task runner checks users with.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "driver/config/value_parsers.h"

namespace carp_exec::tasks {

// Inclusive ranges [first, last].
class IdRanges {
 public:
  IdRanges() = default;
  explicit IdRanges(std::vector<std::pair<uint32_t, uint32_t>> ranges)
      : ranges_(std::move(ranges)) {}

  // The ranges of a plugin config field (denied_host_uids, denied_host_gids).
  static IdRanges FromConfig(const std::vector<config::IdRange>& ranges);
  // config::ParseIdRanges, as a set: "0-100,600"; an empty text is the empty set.
  // InvalidArgument names the bad item.
  static absl::StatusOr<IdRanges> Parse(absl::string_view text);

  bool Contains(uint32_t id) const;
  bool empty() const { return ranges_.empty(); }
  const std::vector<std::pair<uint32_t, uint32_t>>& ranges() const { return ranges_; }
  std::string ToString() const;  // "0-100,600"

 private:
  std::vector<std::pair<uint32_t, uint32_t>> ranges_;
};

}  // namespace carp_exec::tasks
