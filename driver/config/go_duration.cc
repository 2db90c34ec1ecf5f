#include "driver/config/go_duration.h"

#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "driver/config/cty_value.h"

namespace carp_exec::config {
namespace {

constexpr uint64_t kNanosPerUnit[] = {1,          1000,           1000000,
                                      1000000000, 60000000000ULL, 3600000000000ULL};

// Nanoseconds per unit, or 0 for an unknown unit.
uint64_t UnitNanos(absl::string_view unit) {
  if (unit == "ns") return kNanosPerUnit[0];
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return kNanosPerUnit[1];
  if (unit == "ms") return kNanosPerUnit[2];
  if (unit == "s") return kNanosPerUnit[3];
  if (unit == "m") return kNanosPerUnit[4];
  if (unit == "h") return kNanosPerUnit[5];
  return 0;
}

absl::Status NotADuration(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(QuoteForMessage(text), " is not a duration: ", why));
}

bool IsDigit(char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }

}  // namespace

absl::StatusOr<absl::Duration> ParseGoDuration(absl::string_view text) {
  if (text.empty()) return NotADuration(text, "it is empty; write e.g. \"10s\" or \"250ms\"");
  absl::string_view rest = text;
  bool negative = false;
  if (rest[0] == '-' || rest[0] == '+') {
    negative = rest[0] == '-';
    rest.remove_prefix(1);
  }
  if (rest == "0") return absl::ZeroDuration();
  if (rest.empty()) return NotADuration(text, "a sign alone has no value; write e.g. \"-5s\"");

  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  uint64_t total = 0;
  while (!rest.empty()) {
    // Whole part, then an optional fraction; at least one digit in all.
    uint64_t whole = 0;
    bool whole_overflow = false;
    size_t i = 0;
    for (; i < rest.size() && IsDigit(rest[i]); ++i) {
      if (whole > (std::numeric_limits<uint64_t>::max() - 9) / 10) whole_overflow = true;
      if (!whole_overflow) whole = whole * 10 + static_cast<uint64_t>(rest[i] - '0');
    }
    const bool had_whole = i > 0;
    uint64_t fraction = 0;
    uint64_t scale = 1;
    bool had_fraction = false;
    if (i < rest.size() && rest[i] == '.') {
      ++i;
      for (; i < rest.size() && IsDigit(rest[i]); ++i) {
        had_fraction = true;
        // Digits past 1e18 are below a nanosecond for every unit; skip them.
        if (scale < 1000000000000000000ULL) {
          fraction = fraction * 10 + static_cast<uint64_t>(rest[i] - '0');
          scale *= 10;
        }
      }
    }
    if (!had_whole && !had_fraction) {
      return NotADuration(text, absl::StrCat("expected a number before ", QuoteForMessage(rest),
                                             "; write e.g. \"1m30s\""));
    }
    size_t unit_end = i;
    while (unit_end < rest.size() && rest[unit_end] != '.' && !IsDigit(rest[unit_end])) {
      ++unit_end;
    }
    const absl::string_view unit = rest.substr(i, unit_end - i);
    if (unit.empty()) {
      return NotADuration(
          text, absl::StrCat("the number ", QuoteForMessage(rest.substr(0, i)),
                             " has no unit; add one of ns, us, ms, s, m, h (e.g. \"10s\")"));
    }
    const uint64_t unit_nanos = UnitNanos(unit);
    if (unit_nanos == 0) {
      return NotADuration(text, absl::StrCat("unknown unit ", QuoteForMessage(unit),
                                             "; use ns, us, ms, s, m or h"));
    }
    if (whole_overflow || whole > limit / unit_nanos) {
      return NotADuration(text, "it is too long; durations stop at about 292 years");
    }
    uint64_t part = whole * unit_nanos;
    if (fraction > 0) {
      // fraction/scale < 1, so fraction * unit_nanos / scale < unit_nanos; 128-bit avoids
      // overflow of the product.
      part += static_cast<uint64_t>(static_cast<unsigned __int128>(fraction) * unit_nanos / scale);
    }
    if (part > limit - total) {
      return NotADuration(text, "it is too long; durations stop at about 292 years");
    }
    total += part;
    rest.remove_prefix(unit_end);
  }
  if (negative) {
    if (total == uint64_t{1} << 63) return absl::Nanoseconds(std::numeric_limits<int64_t>::min());
    return absl::Nanoseconds(-static_cast<int64_t>(total));
  }
  return absl::Nanoseconds(static_cast<int64_t>(total));
}

std::string FormatGoDuration(absl::Duration duration) {
  // absl writes zero as "0"; Go (and our defaults) write "0s".
  if (duration == absl::ZeroDuration()) return "0s";
  return absl::FormatDuration(duration);
}

}  // namespace carp_exec::config
