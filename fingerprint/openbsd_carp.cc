#include "fingerprint/openbsd_carp.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fingerprint/parse_text.h"

namespace carp_exec::fingerprint {
namespace {

constexpr absl::string_view kTool = "OpenBSD ifconfig";

absl::Status LineError(const NumberedLine& line, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(kTool, " output: ", LineRef(line.number, line.text), ": ", problem));
}

// CARP only knows INIT, BACKUP and MASTER (CARP_STATES in ip_carp.h).
std::optional<VrrpState> CarpStateWord(absl::string_view word) {
  std::optional<VrrpState> state = ParseVrrpStateWord(word);
  if (state == VrrpState::kFault) return std::nullopt;
  return state;
}

// The pairs after the state word of "carp: STATE carpdev X vhid N advbase N advskew N [carppeer
// A]" or after "state STATE" of a carpnodes line. Unknown keys are skipped so a newer ifconfig
// that adds a field still parses.
absl::Status ApplyVhidPairs(absl::Span<const absl::string_view> words, CarpVhid* vhid,
                            std::string* carppeer) {
  bool saw_vhid = false;
  absl::Status status =
      ForEachKeyValue(words, [&](absl::string_view key, absl::string_view value) -> absl::Status {
        std::optional<int> number;
        if (key == "vhid") {
          number = ParseBoundedInt(value, 1, 255);
          if (number) {
            vhid->vhid = *number;
            saw_vhid = true;
          }
        } else if (key == "advbase") {
          number = ParseBoundedInt(value, 0, 255);
          if (number) vhid->advbase = *number;
        } else if (key == "advskew") {
          number = ParseBoundedInt(value, 0, 255);
          if (number) vhid->advskew = *number;
        } else {
          if (key == "carppeer") *carppeer = std::string(value);
          return absl::OkStatus();
        }
        if (!number) {
          return absl::InvalidArgumentError(
              absl::StrCat(key, " ", QuoteForMessage(value), " is not a number in 0..255"));
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (!saw_vhid) return absl::InvalidArgumentError("no vhid");
  return absl::OkStatus();
}

absl::Status ParseBlock(const IfconfigBlock& block, CarpInterfaceStatus* status) {
  status->name = block.name;
  // Set by "carp: carpdev X advbase N balancing M": the state lines that follow inherit advbase.
  bool in_carpnodes = false;
  int carpnodes_advbase = 0;
  for (const NumberedLine& line : block.lines) {
    std::vector<absl::string_view> words = SplitWords(line.text);
    absl::string_view key = words[0];
    absl::Span<const absl::string_view> rest = absl::MakeConstSpan(words).subspan(1);
    if (key == "carp:") {
      if (rest.empty()) return LineError(line, "carp line is empty");
      if (rest[0] == "carpdev") {
        int advbase = 0;
        absl::Status pairs =
            ForEachKeyValue(rest, [&](absl::string_view k, absl::string_view v) -> absl::Status {
              if (k != "advbase") return absl::OkStatus();
              std::optional<int> n = ParseBoundedInt(v, 0, 255);
              if (!n) return absl::InvalidArgumentError("advbase is not a number in 0..255");
              advbase = *n;
              return absl::OkStatus();
            });
        if (!pairs.ok()) return LineError(line, pairs.message());
        in_carpnodes = true;
        carpnodes_advbase = advbase;
        continue;
      }
      std::optional<VrrpState> state = CarpStateWord(rest[0]);
      if (!state) {
        return LineError(line, "unknown carp state; expected INIT, BACKUP or MASTER");
      }
      CarpVhid vhid;
      vhid.state = *state;
      absl::Status pairs = ApplyVhidPairs(rest.subspan(1), &vhid, &status->carppeer);
      if (!pairs.ok()) return LineError(line, pairs.message());
      status->vhids.push_back(vhid);
      in_carpnodes = false;
    } else if (key == "state" && in_carpnodes) {
      std::optional<VrrpState> state = rest.empty() ? std::nullopt : CarpStateWord(rest[0]);
      if (!state) {
        return LineError(line, "carpnode state is not INIT, BACKUP or MASTER");
      }
      CarpVhid vhid;
      vhid.state = *state;
      vhid.advbase = carpnodes_advbase;
      absl::Status pairs = ApplyVhidPairs(rest.subspan(1), &vhid, &status->carppeer);
      if (!pairs.ok()) return LineError(line, pairs.message());
      status->vhids.push_back(vhid);
    } else if (key == "groups:") {
      for (absl::string_view group : rest) status->groups.emplace_back(group);
    } else if (key == "status:") {
      status->link_status = absl::StrJoin(rest, " ");
    } else if (key == "inet" || key == "inet6") {
      std::optional<std::string> ip = rest.empty() ? std::nullopt : CanonicalAddress(rest[0]);
      if (!ip) return LineError(line, "address is not an IP address");
      status->addresses.push_back({*ip, std::nullopt});
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<CarpInterfaceStatus>> ParseOpenBsdIfconfigList(
    absl::string_view output) {
  return ParseIfconfigInterfaces(output, kTool, ParseBlock);
}

absl::StatusOr<CarpInterfaceStatus> ParseOpenBsdIfconfig(absl::string_view output) {
  return SingleInterface(ParseOpenBsdIfconfigList(output), kTool, "ifconfig carpN");
}

absl::StatusOr<OpenBsdGroupDemote> ParseOpenBsdGroupDemote(absl::string_view output) {
  OpenBsdGroupDemote found;
  absl::Status status = ParseTheOneLine(
      output, "OpenBSD `ifconfig -g GROUP` output", "GROUP: carp demote count N",
      "expected \"GROUP: carp demote count N\"", [&](absl::Span<const absl::string_view> words) {
        const bool shape = words.size() == 5 && words[0].size() >= 2 && words[0].back() == ':' &&
                           words[1] == "carp" && words[2] == "demote" && words[3] == "count";
        std::optional<int> count = shape ? ParseBoundedInt(words[4], 0, 1 << 30) : std::nullopt;
        if (!count) return false;
        found = OpenBsdGroupDemote{std::string(words[0].substr(0, words[0].size() - 1)), *count};
        return true;
      });
  if (!status.ok()) return status;
  return found;
}

absl::StatusOr<int> ParseOpenBsdDemoteCount(absl::string_view output) {
  absl::StatusOr<OpenBsdGroupDemote> parsed = ParseOpenBsdGroupDemote(output);
  if (!parsed.ok()) return parsed.status();
  return parsed->demote_count;
}

}  // namespace carp_exec::fingerprint
