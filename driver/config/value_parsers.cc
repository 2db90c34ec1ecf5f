#include "driver/config/value_parsers.h"

#include <arpa/inet.h>
#include <sys/socket.h>  // AF_INET, AF_INET6: POSIX puts them here; neither OpenBSD's nor
                         // FreeBSD's arpa/inet.h defines them (include/arpa/inet.h)

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "driver/config/cty_value.h"

namespace carp_exec::config {
namespace {

absl::Status Bad(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(QuoteForMessage(text), " ", why));
}

bool ParseDecimal32(absl::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 10) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(text, out);
}

}  // namespace

absl::StatusOr<std::vector<IdRange>> ParseIdRanges(absl::string_view text) {
  std::vector<IdRange> ranges;
  if (absl::StripAsciiWhitespace(text).empty()) return ranges;
  constexpr absl::string_view kHow = "; write ids and inclusive ranges like \"0-100,600\"";
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) return Bad(text, absl::StrCat("has an empty item", kHow));
    IdRange range;
    const size_t dash = item.find('-');
    if (dash == absl::string_view::npos) {
      if (!ParseDecimal32(item, &range.first)) {
        return Bad(text, absl::StrCat("has ", QuoteForMessage(item), ", not an id", kHow));
      }
      range.last = range.first;
    } else {
      const absl::string_view low = absl::StripAsciiWhitespace(item.substr(0, dash));
      const absl::string_view high = absl::StripAsciiWhitespace(item.substr(dash + 1));
      if (!ParseDecimal32(low, &range.first) || !ParseDecimal32(high, &range.last)) {
        return Bad(text, absl::StrCat("has ", QuoteForMessage(item), ", not a range", kHow));
      }
      if (range.last < range.first) {
        return Bad(text, absl::StrCat("has the range ", QuoteForMessage(item),
                                      " whose end is below its start; write it low-high"));
      }
    }
    ranges.push_back(range);
  }
  return ranges;
}

absl::StatusOr<IpAddress> ParseIpAddress(absl::string_view text) {
  if (absl::StrContains(text, '/')) {
    return Bad(text, "has a prefix length; write the address alone, e.g. \"192.0.2.10\"");
  }
  // inet_pton needs a NUL-terminated string; a NUL inside the text is never an address.
  const std::string copy(text);
  if (copy.size() != std::strlen(copy.c_str()) || copy.size() > 64) {
    return Bad(text, "is not an IP address; write e.g. \"192.0.2.10\" or \"2001:db8::10\"");
  }
  IpAddress address;
  char canonical[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, copy.c_str(), address.bytes.data()) == 1) {
    inet_ntop(AF_INET, address.bytes.data(), canonical, sizeof(canonical));
  } else if (inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) == 1) {
    address.is_v6 = true;
    inet_ntop(AF_INET6, address.bytes.data(), canonical, sizeof(canonical));
  } else {
    return Bad(text, "is not an IP address; write e.g. \"192.0.2.10\" or \"2001:db8::10\"");
  }
  address.text = canonical;
  return address;
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text) {
  constexpr absl::string_view kHow = "; write host:port, e.g. \"127.0.0.1:443\" or \"[::1]:443\"";
  HostPort result;
  absl::string_view port_text;
  if (absl::StartsWith(text, "[")) {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Bad(text, absl::StrCat("is not a bracketed address with a port", kHow));
    }
    result.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    auto address = ParseIpAddress(result.host);
    if (!address.ok() || !address->is_v6) {
      return Bad(text, absl::StrCat("has no IPv6 address inside the brackets", kHow));
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return Bad(text, absl::StrCat("has no port", kHow));
    result.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (absl::StrContains(result.host, ':')) {
      return Bad(text, absl::StrCat("has an IPv6 address without brackets", kHow));
    }
  }
  if (result.host.empty()) return Bad(text, absl::StrCat("has no host", kHow));
  for (char c : result.host) {
    const auto u = static_cast<unsigned char>(c);
    if (!absl::ascii_isalnum(u) && c != '.' && c != '-' && c != '_' && c != ':') {
      return Bad(text, absl::StrCat("has a character a host name cannot have", kHow));
    }
  }
  uint32_t port = 0;
  if (!ParseDecimal32(port_text, &port) || port == 0 || port > 65535) {
    return Bad(text, absl::StrCat("has the port ", QuoteForMessage(port_text),
                                  "; a port is a number from 1 to 65535", kHow));
  }
  result.port = static_cast<uint16_t>(port);
  return result;
}

absl::StatusOr<HttpProbeUrl> ParseHttpProbeUrl(absl::string_view text) {
  constexpr absl::string_view kScheme = "http://";
  constexpr absl::string_view kHow = "; write e.g. \"http://127.0.0.1:8080/ping\"";
  if (!absl::StartsWith(text, kScheme)) {
    return Bad(text, absl::StrCat("must start with http:// (https is not supported)", kHow));
  }
  absl::string_view rest = text.substr(kScheme.size());
  const size_t target_start = rest.find_first_of("/?");
  const absl::string_view authority = rest.substr(0, target_start);
  if (absl::StrContains(authority, '@')) {
    return Bad(text, absl::StrCat("has user information; leave it out", kHow));
  }
  auto address = ParseHostPort(authority);
  if (!address.ok()) {
    return Bad(text, absl::StrCat("needs host:port after http://: ", address.status().message()));
  }
  HttpProbeUrl url;
  url.url = std::string(text);
  url.address = *std::move(address);
  url.target =
      target_start == absl::string_view::npos ? "/" : std::string(rest.substr(target_start));
  if (absl::StartsWith(url.target, "?")) url.target = absl::StrCat("/", url.target);
  for (char c : url.target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '#') {
      return Bad(text, absl::StrCat("has a space, control byte, '#' or non-ASCII byte in its path;"
                                    " percent-encode it",
                                    kHow));
    }
  }
  return url;
}

absl::StatusOr<std::string> CheckAbsolutePath(absl::string_view text) {
  if (!absl::StartsWith(text, "/")) {
    return Bad(text, "is not an absolute path; write a path that starts with /");
  }
  if (absl::StrContains(text, '\0')) return Bad(text, "contains a NUL byte; remove it");
  return std::string(text);
}

absl::StatusOr<std::string> CheckOptionalAbsolutePath(absl::string_view text) {
  if (text.empty()) return std::string();
  return CheckAbsolutePath(text);
}

absl::StatusOr<std::string> CheckInterfaceName(absl::string_view text) {
  constexpr size_t kMaxName = 15;  // IFNAMSIZ 16 less the NUL, on Linux and the BSDs
  bool ok = !text.empty() && text.size() <= kMaxName;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (!absl::ascii_isalnum(u) && c != '.' && c != '_' && c != '-') ok = false;
  }
  if (!ok) {
    return Bad(text,
               "is not an interface name; use 1 to 15 letters, digits, '.', '_' or '-',"
               " e.g. \"carp0\"");
  }
  return std::string(text);
}

absl::StatusOr<std::string> CheckInterfaceGroup(absl::string_view text) {
  absl::StatusOr<std::string> name = CheckInterfaceName(text);
  if (!name.ok() || absl::ascii_isdigit(static_cast<unsigned char>(text.back()))) {
    return Bad(text,
               "is not an interface group name; use 1 to 15 letters, digits, '.', '_' or"
               " '-', not ending in a digit, e.g. \"edge\"");
  }
  return name;
}

}  // namespace carp_exec::config
