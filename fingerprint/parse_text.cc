#include "fingerprint/parse_text.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>  // AF_INET, AF_INET6: POSIX puts them here; neither OpenBSD's nor
                         // FreeBSD's arpa/inet.h or netinet/in.h defines them (include/arpa/inet.h)

#include <cstdint>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace carp_exec::fingerprint {

std::vector<absl::string_view> SplitLines(absl::string_view text) {
  std::vector<absl::string_view> lines;
  while (!text.empty()) {
    size_t end = text.find('\n');
    absl::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == absl::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

std::vector<absl::string_view> SplitWords(absl::string_view line) {
  return absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
}

std::string QuoteForMessage(absl::string_view line) {
  constexpr size_t kMaxShown = 160;
  bool cut = line.size() > kMaxShown;
  if (cut) line = line.substr(0, kMaxShown);
  return absl::StrCat("\"", absl::CHexEscape(line), cut ? "...\"" : "\"");
}

std::string LineRef(int number, absl::string_view line) {
  return absl::StrCat("line ", number, " ", QuoteForMessage(line));
}

std::optional<int> ParseBoundedInt(absl::string_view word, int min, int max) {
  bool negative = false;
  if (!word.empty() && word.front() == '-') {
    negative = true;
    word.remove_prefix(1);
  }
  if (word.empty()) return std::nullopt;
  while (word.size() > 1 && word.front() == '0') word.remove_prefix(1);
  if (word.size() > 12) return std::nullopt;  // beyond any int; also keeps int64 from overflowing
  int64_t value = 0;
  for (char c : word) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (negative) value = -value;
  if (value < min || value > max) return std::nullopt;
  return static_cast<int>(value);
}

std::optional<std::string> CanonicalAddress(absl::string_view text) {
  text = text.substr(0, text.find('/'));
  text = text.substr(0, text.find('%'));
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string input(text);
  char buffer[INET6_ADDRSTRLEN] = {};
  if (input.find(':') == std::string::npos) {
    in_addr v4{};
    if (inet_pton(AF_INET, input.c_str(), &v4) != 1) return std::nullopt;
    if (inet_ntop(AF_INET, &v4, buffer, sizeof(buffer)) == nullptr) return std::nullopt;
  } else {
    in6_addr v6{};
    if (inet_pton(AF_INET6, input.c_str(), &v6) != 1) return std::nullopt;
    if (inet_ntop(AF_INET6, &v6, buffer, sizeof(buffer)) == nullptr) return std::nullopt;
  }
  return std::string(buffer);
}

bool IsIpv6LinkLocal(absl::string_view canonical) {
  std::string input(canonical);
  in6_addr v6{};
  if (inet_pton(AF_INET6, input.c_str(), &v6) != 1) return false;
  return v6.s6_addr[0] == 0xfe && (v6.s6_addr[1] & 0xc0) == 0x80;
}

}  // namespace carp_exec::fingerprint

namespace carp_exec::fingerprint {
namespace {

bool IsInterfaceNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

}  // namespace

absl::Status ForEachKeyValue(
    absl::Span<const absl::string_view> words,
    absl::FunctionRef<absl::Status(absl::string_view key, absl::string_view value)> visit) {
  for (size_t i = 0; i < words.size(); i += 2) {
    if (i + 1 >= words.size()) {
      return absl::InvalidArgumentError(absl::StrCat(QuoteForMessage(words[i]), " has no value"));
    }
    absl::Status status = visit(words[i], words[i + 1]);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<IfconfigBlock>> SplitIfconfigBlocks(absl::string_view output,
                                                               absl::string_view tool) {
  std::vector<IfconfigBlock> blocks;
  int number = 0;
  for (absl::string_view text : SplitLines(output)) {
    ++number;
    if (SplitWords(text).empty()) continue;
    if (text.front() == '\t' || text.front() == ' ') {
      if (blocks.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(tool, " output: ", LineRef(number, text),
                         " is indented but comes before any interface line; expected "
                         "\"NAME: flags=...\" first"));
      }
      blocks.back().lines.push_back({number, text});
      continue;
    }
    std::vector<absl::string_view> words = SplitWords(text);
    absl::string_view name = words[0];
    bool header = words.size() >= 2 && name.size() >= 2 && name.back() == ':' &&
                  absl::StartsWith(words[1], "flags=");
    if (header) {
      name.remove_suffix(1);
      for (char c : name) header = header && IsInterfaceNameChar(c);
    }
    if (!header) {
      return absl::InvalidArgumentError(
          absl::StrCat(tool, " output: ", LineRef(number, text),
                       " is not an interface line (\"NAME: flags=...\"); is this the right tool?"));
    }
    IfconfigBlock block;
    block.name = std::string(name);
    block.header = {number, text};
    blocks.push_back(std::move(block));
  }
  return blocks;
}

absl::StatusOr<std::vector<CarpInterfaceStatus>> ParseIfconfigInterfaces(
    absl::string_view output, absl::string_view tool,
    absl::FunctionRef<absl::Status(const IfconfigBlock&, CarpInterfaceStatus*)> parse_block) {
  absl::StatusOr<std::vector<IfconfigBlock>> blocks = SplitIfconfigBlocks(output, tool);
  if (!blocks.ok()) return blocks.status();
  std::vector<CarpInterfaceStatus> result;
  result.reserve(blocks->size());
  for (const IfconfigBlock& block : *blocks) {
    CarpInterfaceStatus status;
    absl::Status parsed = parse_block(block, &status);
    if (!parsed.ok()) return parsed;
    result.push_back(std::move(status));
  }
  return result;
}

absl::StatusOr<CarpInterfaceStatus> SingleInterface(
    absl::StatusOr<std::vector<CarpInterfaceStatus>> list, absl::string_view tool,
    absl::string_view usage) {
  if (!list.ok()) return list.status();
  if (list->size() != 1) {
    std::vector<std::string> names;
    names.reserve(list->size());
    for (const CarpInterfaceStatus& status : *list) names.push_back(status.name);
    return absl::InvalidArgumentError(
        absl::StrCat(tool, " output: expected exactly one interface, got ", list->size(),
                     names.empty() ? "" : absl::StrCat(" (", absl::StrJoin(names, ", "), ")"),
                     "; run it as `", usage, "`"));
  }
  return std::move(list->front());
}

absl::Status ParseTheOneLine(absl::string_view output, absl::string_view what,
                             absl::string_view expected, absl::string_view if_empty,
                             absl::FunctionRef<bool(absl::Span<const absl::string_view>)> parse) {
  bool found = false;
  int number = 0;
  for (absl::string_view text : SplitLines(output)) {
    ++number;
    const std::vector<absl::string_view> words = SplitWords(text);
    if (words.empty()) continue;
    if (found) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ", LineRef(number, text), " follows the value; expected one line"));
    }
    if (!parse(words)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ", LineRef(number, text), " is not \"", expected, "\""));
    }
    found = true;
  }
  if (!found) return absl::InvalidArgumentError(absl::StrCat(what, " is empty; ", if_empty));
  return absl::OkStatus();
}

}  // namespace carp_exec::fingerprint
