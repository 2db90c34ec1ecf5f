#include "tests/host/hclog_line.h"

#include <regex>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace carp_exec::test_host {
namespace {

absl::Status LineError(absl::string_view rule, absl::string_view line) {
  return absl::InvalidArgumentError(
      absl::StrCat("stderr line breaks the hclog contract: ", rule, "; line: ", line));
}

// Returns the string value of `key`, or an error if it is missing or not a JSON string.
absl::StatusOr<std::string> StringField(const google::protobuf::Struct& object,
                                        const std::string& key, absl::string_view line) {
  auto it = object.fields().find(key);
  if (it == object.fields().end()) return LineError(absl::StrCat(key, " is missing"), line);
  if (it->second.kind_case() != google::protobuf::Value::kStringValue) {
    return LineError(absl::StrCat(key, " is not a JSON string"), line);
  }
  return it->second.string_value();
}

}  // namespace

absl::StatusOr<HclogEntry> ParseHclogLine(absl::string_view line) {
  google::protobuf::Struct object;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const std::string text(line);
  if (text.empty() || text.front() != '{') return LineError("not a JSON object", line);
  if (!google::protobuf::util::JsonStringToMessage(text, &object, options).ok()) {
    return LineError("not valid JSON", line);
  }
  HclogEntry entry;
  absl::StatusOr<std::string> level = StringField(object, "@level", line);
  if (!level.ok()) return level.status();
  const std::string lower = absl::AsciiStrToLower(*level);
  if (lower != "trace" && lower != "debug" && lower != "info" && lower != "warn" &&
      lower != "error") {
    return LineError(absl::StrCat("@level \"", *level, "\" is not trace|debug|info|warn|error"),
                     line);
  }
  entry.level = *level;
  absl::StatusOr<std::string> message = StringField(object, "@message", line);
  if (!message.ok()) return message.status();
  entry.message = *message;
  absl::StatusOr<std::string> timestamp = StringField(object, "@timestamp", line);
  if (!timestamp.ok()) return timestamp.status();
  // Go layout 2006-01-02T15:04:05.000000Z07:00: exactly six fraction digits, Z or ±hh:mm.
  static const std::regex kLayout(
      R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$)");
  if (!std::regex_match(*timestamp, kLayout)) {
    return LineError(absl::StrCat("@timestamp \"", *timestamp,
                                  "\" does not match 2006-01-02T15:04:05.000000Z07:00"),
                     line);
  }
  std::string parse_error;
  if (!absl::ParseTime(absl::RFC3339_full, *timestamp, &entry.time, &parse_error)) {
    return LineError(
        absl::StrCat("@timestamp \"", *timestamp, "\" is not a real time: ", parse_error), line);
  }
  entry.timestamp = *timestamp;
  absl::StatusOr<std::string> module = StringField(object, "@module", line);
  if (!module.ok()) return module.status();
  if (module->empty()) return LineError("@module is empty", line);
  entry.module = *module;
  for (const auto& [key, value] : object.fields()) {
    if (key == "@level" || key == "@message" || key == "@timestamp" || key == "@module") continue;
    std::string json;
    if (value.kind_case() == google::protobuf::Value::kStringValue) {
      json = value.string_value();
    } else {
      (void)google::protobuf::util::MessageToJsonString(value, &json);
    }
    entry.fields[key] = json;
  }
  return entry;
}

}  // namespace carp_exec::test_host
