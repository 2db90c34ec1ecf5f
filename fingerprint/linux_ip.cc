#include "fingerprint/linux_ip.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "fingerprint/parse_text.h"

namespace carp_exec::fingerprint {
namespace {

absl::Status LineError(int number, absl::string_view line, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("`ip -o addr` output: ", LineRef(number, line),
                                                 ": ", problem, "; is ip_path iproute2's ip?"));
}

// "2:" — the interface index iproute2 prints first.
bool IsIndexWord(absl::string_view word) {
  if (word.size() < 2 || word.back() != ':') return false;
  word.remove_suffix(1);
  for (char c : word) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return word.size() <= 10;
}

}  // namespace

absl::StatusOr<std::vector<IpAddressEntry>> ParseIpAddrOnelineEntries(absl::string_view output) {
  std::vector<IpAddressEntry> entries;
  int number = 0;
  for (absl::string_view text : SplitLines(output)) {
    ++number;
    std::vector<absl::string_view> words = SplitWords(text);
    if (words.empty()) continue;
    if (words.size() < 4 || !IsIndexWord(words[0])) {
      return LineError(number, text, "expected \"INDEX: IFACE inet|inet6 ADDRESS/PREFIX ...\"");
    }
    IpAddressEntry entry;
    absl::string_view interface = words[1];
    interface = interface.substr(0, interface.find('@'));  // "veth0@if5"
    if (interface.empty()) return LineError(number, text, "no interface name");
    entry.interface = std::string(interface);
    if (words[2] != "inet" && words[2] != "inet6") {
      return LineError(number, text, "not an inet or inet6 address line");
    }
    entry.family = std::string(words[2]);
    std::optional<std::string> address = CanonicalAddress(words[3]);
    bool family_matches =
        address.has_value() && (address->find(':') != std::string::npos) == (words[2] == "inet6");
    if (!family_matches) {
      return LineError(
          number, text,
          absl::StrCat("address ", QuoteForMessage(words[3]), " is not an ", words[2], " address"));
    }
    entry.address = *std::move(address);
    entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<std::vector<std::string>> ParseIpAddrOneline(absl::string_view output) {
  absl::StatusOr<std::vector<IpAddressEntry>> entries = ParseIpAddrOnelineEntries(output);
  if (!entries.ok()) return entries.status();
  std::vector<std::string> addresses;
  addresses.reserve(entries->size());
  for (IpAddressEntry& entry : *entries) addresses.push_back(std::move(entry.address));
  return addresses;
}

}  // namespace carp_exec::fingerprint
