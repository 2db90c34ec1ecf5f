#include "driver/log/hclog.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace carp_exec::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_fd{2};

// Length of a valid UTF-8 sequence starting at s[i], or 0 if it is invalid.
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  unsigned min = 0;
  unsigned cp = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
    min = 0x10000;
  } else
    return 0;
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

bool ParseLevel(absl::string_view text, Level* level) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "trace")
    *level = Level::kTrace;
  else if (lower == "debug")
    *level = Level::kDebug;
  else if (lower == "info")
    *level = Level::kInfo;
  else if (lower == "warn")
    *level = Level::kWarn;
  else if (lower == "error")
    *level = Level::kError;
  else
    return false;
  return true;
}

absl::string_view LevelName(Level level) {
  switch (level) {
    case Level::kTrace:
      return "trace";
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

void AppendJsonEscaped(std::string* out, absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out->append("\\\"");
          break;
        case '\\':
          out->append("\\\\");
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        case '\t':
          out->append("\\t");
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            absl::StrAppendFormat(out, "\\u%04x", c);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      out->append("\\ufffd");
      ++i;
    } else {
      out->append(text.data() + i, len);
      i += len;
    }
  }
}

std::string FormatLine(absl::Time when, Level level, absl::string_view module,
                       absl::string_view message, Fields fields) {
  std::string line = "{\"@level\":\"";
  const absl::string_view level_name = LevelName(level);
  line.append(level_name.data(), level_name.size());
  line.append("\",\"@message\":\"");
  AppendJsonEscaped(&line, message);
  line.append("\",\"@module\":\"");
  AppendJsonEscaped(&line, module);
  // Nomad parses exactly six fraction digits: 2006-01-02T15:04:05.000000Z07:00.
  line.append("\",\"@timestamp\":\"");
  line.append(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", when, absl::UTCTimeZone()));
  line.push_back('"');
  for (const auto& [key, value] : fields) {
    // Keys starting with '@' are reserved by hclog; keep user keys clear of them.
    if (key.empty() || key[0] == '@') continue;
    line.append(",\"");
    AppendJsonEscaped(&line, key);
    line.append("\":\"");
    AppendJsonEscaped(&line, value);
    line.push_back('"');
  }
  line.push_back('}');
  return line;
}

void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }
Level GetLevel() { return static_cast<Level>(g_level.load()); }
void SetFd(int fd) { g_fd.store(fd); }

void Write(Level level, absl::string_view module, absl::string_view message, Fields fields) {
  if (static_cast<int>(level) < g_level.load()) return;
  std::string line = FormatLine(absl::Now(), level, module, message, fields);
  line.push_back('\n');
  const int fd = g_fd.load();
  // One write(2) per line keeps lines whole between threads. EPIPE (agent gone) is ignored.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace carp_exec::log
