#include "fingerprint/keepalived_state.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fingerprint/parse_text.h"

namespace carp_exec::fingerprint {

absl::StatusOr<VrrpState> ParseStateFile(absl::string_view contents) {
  int number = 0;
  for (absl::string_view text : SplitLines(contents)) {
    ++number;
    std::vector<absl::string_view> words = SplitWords(text);
    if (words.empty()) continue;
    std::optional<VrrpState> state = ParseVrrpStateWord(words[0]);
    // keepalived calls notify scripts with: INSTANCE|GROUP NAME STATE PRIORITY.
    bool notify_args = words.size() >= 3 && (absl::EqualsIgnoreCase(words[0], "INSTANCE") ||
                                             absl::EqualsIgnoreCase(words[0], "GROUP"));
    if (!state && notify_args) state = ParseVrrpStateWord(words[2]);
    if (!state) {
      return absl::InvalidArgumentError(absl::StrCat(
          "keepalived state file: ", LineRef(number, text),
          " has no state word; the notify hook should write MASTER, BACKUP, FAULT or STOP"));
    }
    return *state;
  }
  return absl::InvalidArgumentError(
      "keepalived state file is empty; the notify hook should write MASTER, BACKUP, FAULT or "
      "STOP");
}

}  // namespace carp_exec::fingerprint
