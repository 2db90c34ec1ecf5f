#include "driver/tasks/id_ranges.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace carp_exec::tasks {
namespace {

absl::StatusOr<uint32_t> ParseId(absl::string_view text, absl::string_view item) {
  uint32_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || text.empty() || text[0] == '-' || text[0] == '+') {
    return absl::InvalidArgumentError(absl::StrCat(
        "id ranges: \"", item, "\" is not an id or a range of ids; write e.g. \"0-100,600\""));
  }
  return id;
}

}  // namespace

absl::StatusOr<IdRanges> IdRanges::Parse(absl::string_view text) {
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  if (absl::StripAsciiWhitespace(text).empty()) return IdRanges();
  for (absl::string_view raw : absl::StrSplit(text, ',')) {
    absl::string_view item = absl::StripAsciiWhitespace(raw);
    std::pair<absl::string_view, absl::string_view> bounds =
        absl::StrSplit(item, absl::MaxSplits('-', 1));
    absl::StatusOr<uint32_t> first = ParseId(absl::StripAsciiWhitespace(bounds.first), item);
    if (!first.ok()) return first.status();
    uint32_t last = *first;
    if (item.find('-') != absl::string_view::npos) {
      absl::StatusOr<uint32_t> parsed = ParseId(absl::StripAsciiWhitespace(bounds.second), item);
      if (!parsed.ok()) return parsed.status();
      last = *parsed;
    }
    if (last < *first) {
      return absl::InvalidArgumentError(absl::StrCat("id ranges: \"", item,
                                                     "\" ends before it starts; write the "
                                                     "lower id first"));
    }
    ranges.emplace_back(*first, last);
  }
  return IdRanges(std::move(ranges));
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
