#include "fingerprint/freebsd_carp.h"

#include <climits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fingerprint/parse_text.h"

namespace carp_exec::fingerprint {
namespace {

constexpr absl::string_view kTool = "FreeBSD ifconfig";

absl::Status LineError(const NumberedLine& line, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(kTool, " output: ", LineRef(line.number, line.text), ": ", problem));
}

// "carp: STATE vhid N advbase N advskew N" (carp_print_summary). Unknown pairs are skipped.
absl::Status ParseCarpLine(absl::Span<const absl::string_view> rest, CarpVhid* vhid,
                           std::string* peer) {
  if (rest.empty()) return absl::InvalidArgumentError("carp line is empty");
  std::optional<VrrpState> state = ParseVrrpStateWord(rest[0]);
  if (!state || *state == VrrpState::kFault) {
    return absl::InvalidArgumentError("unknown carp state; expected INIT, BACKUP or MASTER");
  }
  vhid->state = *state;
  bool saw_vhid = false;
  absl::Status pairs = ForEachKeyValue(
      rest.subspan(1), [&](absl::string_view key, absl::string_view value) -> absl::Status {
        int* field = nullptr;
        int max = 255;
        if (key == "vhid") {
          field = &vhid->vhid;
          saw_vhid = true;
        } else if (key == "advbase") {
          field = &vhid->advbase;
        } else if (key == "advskew") {
          field = &vhid->advskew;
          max = 254;
        } else {
          if (key == "peer") *peer = std::string(value);
          return absl::OkStatus();
        }
        std::optional<int> number = ParseBoundedInt(value, key == "vhid" ? 1 : 0, max);
        if (!number) {
          return absl::InvalidArgumentError(
              absl::StrCat(key, " ", QuoteForMessage(value), " is not a number in range"));
        }
        *field = *number;
        return absl::OkStatus();
      });
  if (!pairs.ok()) return pairs;
  if (!saw_vhid) return absl::InvalidArgumentError("no vhid");
  return absl::OkStatus();
}

absl::Status ParseBlock(const IfconfigBlock& block, CarpInterfaceStatus* status) {
  status->name = block.name;
  for (const NumberedLine& line : block.lines) {
    std::vector<absl::string_view> words = SplitWords(line.text);
    absl::string_view key = words[0];
    absl::Span<const absl::string_view> rest = absl::MakeConstSpan(words).subspan(1);
    if (key == "carp:") {
      CarpVhid vhid;
      absl::Status parsed = ParseCarpLine(rest, &vhid, &status->carppeer);
      if (!parsed.ok()) return LineError(line, parsed.message());
      status->vhids.push_back(vhid);
    } else if (key == "peer") {
      // FreeBSD 14+: "\t      peer 224.0.0.18 peer6 ff02::12" after the carp line.
      if (rest.empty()) return LineError(line, "peer line has no address");
      status->carppeer = std::string(rest[0]);
    } else if (key == "groups:") {
      for (absl::string_view group : rest) status->groups.emplace_back(group);
    } else if (key == "status:") {
      status->link_status = absl::StrJoin(rest, " ");
    } else if (key == "inet" || key == "inet6") {
      std::optional<std::string> ip = rest.empty() ? std::nullopt : CanonicalAddress(rest[0]);
      if (!ip) return LineError(line, "address is not an IP address");
      CarpInterfaceStatus::Address address{*ip, std::nullopt};
      for (size_t i = 1; i < rest.size(); ++i) {
        if (rest[i] != "vhid") continue;
        std::optional<int> vhid =
            i + 1 < rest.size() ? ParseBoundedInt(rest[i + 1], 1, 255) : std::nullopt;
        if (!vhid) return LineError(line, "\"vhid\" is not followed by a number in 1..255");
        address.vhid = *vhid;
        break;
      }
      status->addresses.push_back(std::move(address));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<CarpInterfaceStatus>> ParseFreeBsdIfconfigList(
    absl::string_view output) {
  return ParseIfconfigInterfaces(output, kTool, ParseBlock);
}

absl::StatusOr<CarpInterfaceStatus> ParseFreeBsdIfconfig(absl::string_view output) {
  return SingleInterface(ParseFreeBsdIfconfigList(output), kTool, "ifconfig IFACE");
}

absl::StatusOr<int> ParseFreeBsdDemotion(absl::string_view output) {
  int demotion = 0;
  absl::Status status = ParseTheOneLine(
      output, "FreeBSD `sysctl net.inet.carp.demotion` output", "net.inet.carp.demotion: N",
      "is carp(4) loaded (kldload carp)?", [&](absl::Span<const absl::string_view> words) {
        absl::string_view value;
        if (words.size() == 2 && words[0] == "net.inet.carp.demotion:") {
          value = words[1];
        } else if (words.size() == 1) {
          value = words[0];  // `sysctl -n`
        }
        // The kernel keeps an int; negative values are possible after unbalanced -N writes.
        std::optional<int> parsed =
            value.empty() ? std::nullopt : ParseBoundedInt(value, INT_MIN + 1, INT_MAX);
        if (parsed) demotion = *parsed;
        return parsed.has_value();
      });
  if (!status.ok()) return status;
  return demotion;
}

}  // namespace carp_exec::fingerprint
