#pragma once
// Small text helpers shared by the fingerprint parsers (internal to carp_fingerprint).

#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "fingerprint/carp_interface.h"

namespace carp_exec::fingerprint {

// Splits on '\n'; a trailing '\r' is dropped from each line. A final newline does not make an
// extra empty line.
std::vector<absl::string_view> SplitLines(absl::string_view text);

// Splits on runs of spaces and tabs; no empty words.
std::vector<absl::string_view> SplitWords(absl::string_view line);

// The line for an error message: C-escaped, in double quotes, cut to 160 characters with "...",
// so hostile input cannot flood a log line or a task event.
std::string QuoteForMessage(absl::string_view line);

// "line N: " prefix plus quoted line, used by all parsers: `line 4 "\tcarp: FOO ..."`.
std::string LineRef(int number, absl::string_view line);

// Parses a decimal integer in [min, max]; rejects signs other than a leading '-', spaces,
// hex, and out-of-range (huge) values.
std::optional<int> ParseBoundedInt(absl::string_view word, int min, int max);

// An IPv4 or IPv6 address in canonical text ("2001:db8::1"), after dropping a "/prefix" and a
// "%scope" suffix. nullopt when `text` is not an address.
std::optional<std::string> CanonicalAddress(absl::string_view text);

// True for IPv6 link-local (fe80::/10) canonical addresses.
bool IsIpv6LinkLocal(absl::string_view canonical);

}  // namespace carp_exec::fingerprint

namespace carp_exec::fingerprint {

// One line of ifconfig output with its 1-based number in the whole output.
struct NumberedLine {
  int number = 0;
  absl::string_view text;
};

// One interface of BSD ifconfig output: the header ("carp0: flags=8843<...> mtu 1500") and the
// indented lines below it.
struct IfconfigBlock {
  std::string name;
  NumberedLine header;
  std::vector<NumberedLine> lines;
};

// Walks "key value key value ..." and calls `visit` for each pair; stops at the first error.
// An odd number of words is an InvalidArgument error ("KEY has no value").
absl::Status ForEachKeyValue(
    absl::Span<const absl::string_view> words,
    absl::FunctionRef<absl::Status(absl::string_view key, absl::string_view value)> visit);

// Splits BSD ifconfig output into interfaces. Blank lines are skipped. A line that is neither
// indented nor an interface header, or an indented line before the first header, is an error
// naming `tool` ("OpenBSD ifconfig") and the line.
absl::StatusOr<std::vector<IfconfigBlock>> SplitIfconfigBlocks(absl::string_view output,
                                                               absl::string_view tool);

// Parses every interface of BSD ifconfig output with the platform's `parse_block`; the first
// block error is returned as is.
absl::StatusOr<std::vector<CarpInterfaceStatus>> ParseIfconfigInterfaces(
    absl::string_view output, absl::string_view tool,
    absl::FunctionRef<absl::Status(const IfconfigBlock&, CarpInterfaceStatus*)> parse_block);

// The one interface of `list`; otherwise an error naming `tool`, how many interfaces were
// found and how to run the tool (`usage`, e.g. "ifconfig carpN").
absl::StatusOr<CarpInterfaceStatus> SingleInterface(
    absl::StatusOr<std::vector<CarpInterfaceStatus>> list, absl::string_view tool,
    absl::string_view usage);

// Reads output that must hold exactly one non-blank line (a counter a tool prints): `parse`
// gets that line's words and returns false when they are not the `expected` shape. Errors are
// InvalidArgument naming `what` ("FreeBSD `sysctl net.inet.carp.demotion` output") and the
// line: not the expected shape, a second line, or none at all (then `if_empty` says why).
absl::Status ParseTheOneLine(absl::string_view output, absl::string_view what,
                             absl::string_view expected, absl::string_view if_empty,
                             absl::FunctionRef<bool(absl::Span<const absl::string_view>)> parse);

}  // namespace carp_exec::fingerprint
