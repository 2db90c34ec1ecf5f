#include "driver/tasks/id_ranges.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace carp_exec::tasks {

IdRanges IdRanges::FromConfig(const std::vector<config::IdRange>& ranges) {
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  pairs.reserve(ranges.size());
  for (const config::IdRange& r : ranges) pairs.emplace_back(r.first, r.last);
  return IdRanges(std::move(pairs));
}

absl::StatusOr<IdRanges> IdRanges::Parse(absl::string_view text) {
  absl::StatusOr<std::vector<config::IdRange>> parsed = config::ParseIdRanges(text);
  if (!parsed.ok()) return parsed.status();
  return FromConfig(*parsed);
}

bool IdRanges::Contains(uint32_t id) const {
  return std::any_of(ranges_.begin(), ranges_.end(),
                     [id](const auto& r) { return id >= r.first && id <= r.second; });
}

std::string IdRanges::ToString() const {
  return absl::StrJoin(ranges_, ",", [](std::string* out, const auto& r) {
    if (r.first == r.second) {
      absl::StrAppend(out, r.first);
    } else {
      absl::StrAppend(out, r.first, "-", r.second);
    }
  });
}

}  // namespace carp_exec::tasks
