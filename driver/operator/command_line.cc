#include "driver/operator/command_line.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "driver/config/cty_encoder.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace carp_exec::operator_cli {
namespace {

using config::CtyValue;

enum class FlagKind { kScalar, kList, kCommand };

FlagKind KindOf(absl::string_view key) {
  if (key == "interfaces" || key == "vip") return FlagKind::kList;
  if (absl::EndsWith(key, "_command")) return FlagKind::kCommand;
  return FlagKind::kScalar;
}

bool IsFailoverKey(absl::string_view key) {
  for (const std::string& known : FailoverKeys()) {
    if (known == key) return true;
  }
  return false;
}

absl::Status Usage(absl::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

CtyValue FromProtoValue(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kBoolValue:
      return CtyValue::Bool(value.bool_value());
    case google::protobuf::Value::kNumberValue: {
      const double number = value.number_value();
      // JSON has one number type; whole values within double's exact range are integers.
      if (std::isfinite(number) && std::floor(number) == number && std::fabs(number) < 9.0e15) {
        return CtyValue::Int(static_cast<int64_t>(number));
      }
      return CtyValue::Double(number);
    }
    case google::protobuf::Value::kStringValue:
      return CtyValue::String(value.string_value());
    case google::protobuf::Value::kListValue: {
      std::vector<CtyValue> items;
      for (const google::protobuf::Value& item : value.list_value().values()) {
        items.push_back(FromProtoValue(item));
      }
      return CtyValue::List(std::move(items));
    }
    case google::protobuf::Value::kStructValue: {
      // protobuf's map has no order; sort the keys so output and errors are stable.
      std::vector<std::string> keys;
      for (const auto& [key, unused] : value.struct_value().fields()) keys.push_back(key);
      std::sort(keys.begin(), keys.end());
      std::vector<CtyValue::Entry> entries;
      entries.reserve(keys.size());
      for (const std::string& key : keys) {
        entries.emplace_back(key, FromProtoValue(value.struct_value().fields().at(key)));
      }
      return CtyValue::Map(std::move(entries));
    }
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      break;
  }
  return CtyValue::Null();
}

// HCL's JSON form may write a block as a list of one object.
const CtyValue* UnwrapBlock(const CtyValue* value) {
  if (value != nullptr && value->kind() == CtyValue::Kind::kList && value->items().size() == 1 &&
      value->items()[0].kind() == CtyValue::Kind::kMap) {
    return &value->items()[0];
  }
  return value;
}

// The plugin's config block inside what the file holds: a whole agent config
// ({"plugin": {"carp_exec": {"config": {...}}}}), a plugin block body ({"config": {...}}), or the
// config block itself.
absl::StatusOr<CtyValue> PluginConfigBlock(const CtyValue& root, absl::string_view file) {
  if (root.kind() != CtyValue::Kind::kMap) {
    return Usage(absl::StrCat("--config ", file, ": expected a JSON object, got ",
                              config::DescribeValue(root)));
  }
  const CtyValue* block = &root;
  if (const CtyValue* plugins = UnwrapBlock(root.Find("plugin")); plugins != nullptr) {
    const CtyValue* ours =
        plugins->kind() == CtyValue::Kind::kMap ? UnwrapBlock(plugins->Find("carp_exec")) : nullptr;
    if (ours == nullptr || ours->kind() != CtyValue::Kind::kMap) {
      return Usage(absl::StrCat("--config ", file,
                                ": the agent config has no plugin \"carp_exec\" block; add "
                                "\"plugin\": {\"carp_exec\": {\"config\": {...}}}"));
    }
    block = ours;
  }
  if (block->entries().size() == 1 && block->entries()[0].first == "config") {
    const CtyValue* inner = UnwrapBlock(&block->entries()[0].second);
    if (inner->is_null()) return CtyValue::Map({});
    block = inner;
  }
  if (block->kind() != CtyValue::Kind::kMap) {
    return Usage(absl::StrCat("--config ", file, ": the plugin config must be an object, got ",
                              config::DescribeValue(*block)));
  }
  CtyValue copy = *block;
  for (auto& [key, value] : copy.mutable_entries()) {
    if (key != "failover") continue;
    CtyValue inner = *UnwrapBlock(&value);  // a copy first: it lives inside `value`
    value = std::move(inner);
  }
  return copy;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Usage(absl::StrCat("--config ", path, ": cannot read it (", std::strerror(errno),
                              "); give the path of the plugin config in JSON"));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<CtyValue> FlagValue(absl::string_view key, const std::vector<std::string>& raw) {
  switch (KindOf(key)) {
    case FlagKind::kScalar:
      // demote_by and vrid stay text here: the schema's number type converts "50" as HCL would, and
      // anything else is reported by the encoder under the option's name.
      return CtyValue::String(raw.back());
    case FlagKind::kList: {
      std::vector<std::string> items;
      for (const std::string& value : raw) {
        for (absl::string_view piece : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
          items.emplace_back(absl::StripAsciiWhitespace(piece));
        }
      }
      return CtyValue::StringList(items);
    }
    case FlagKind::kCommand: {
      absl::StatusOr<CtyValue> parsed = JsonToCtyValue(raw.back());
      bool strings = parsed.ok() && parsed->kind() == CtyValue::Kind::kList;
      if (strings) {
        for (const CtyValue& item : parsed->items()) {
          strings &= item.kind() == CtyValue::Kind::kString;
        }
      }
      if (!strings) {
        return Usage(absl::StrCat("--", key, ": expected a JSON array of strings, got ",
                                  config::QuoteForMessage(raw.back()), "; write --", key,
                                  "='[\"/usr/local/bin/tool\", \"arg\"]'"));
      }
      return *parsed;
    }
  }
  return CtyValue::Null();
}

std::string PluginPrefixed(absl::string_view where, absl::string_view message) {
  absl::string_view text = message;
  absl::ConsumePrefix(&text, "cty encoder: ");
  return absl::StrCat("plugin config: ", where, ": ", text);
}

}  // namespace

const std::vector<std::string>& FailoverKeys() {
  static const auto* keys =
      new std::vector<std::string>{"backend",         "group",         "interfaces",
                                   "demote_by",       "vip",           "confirm_timeout",
                                   "poll_interval",   "settle",        "confirm_command",
                                   "track_file",      "state_file",    "demote_command",
                                   "restore_command", "state_command", "ifconfig_path",
                                   "sysctl_path",     "ip_path",       "demote_via",
                                   "observe_via",     "handover",      "vrid"};
  return *keys;
}

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                             AcceptedFlags accepted) {
  CommandLine line;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      line.help = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      return Usage(absl::StrCat("unexpected argument ", config::QuoteForMessage(arg),
                                "; options are written --name=value"));
    }
    absl::string_view body = absl::string_view(arg).substr(2);
    std::string name(body.substr(0, body.find('=')));
    std::optional<std::string> value;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      value = std::string(body.substr(eq + 1));
    }
    const bool boolean = name == "json" || name == "live" || name == "verbose";
    if (boolean) {
      if (value.has_value()) {
        return Usage(absl::StrCat("--", name, " takes no value; write --", name));
      }
      if ((name == "json" && !accepted.json) || (name == "live" && !accepted.live)) {
        return Usage(absl::StrCat("--", name, " is not an option of this command"));
      }
      (name == "json" ? line.json : name == "live" ? line.live : line.verbose) = true;
      continue;
    }
    const bool known =
        name == "config" || name == "state-dir" || name == "state_dir" || IsFailoverKey(name);
    if (!known) {
      return Usage(absl::StrCat("unknown option ",
                                config::QuoteForMessage(absl::StrCat("--", name)),
                                "; see `carp_exec help`"));
    }
    if (!value.has_value()) {
      if (i + 1 >= args.size()) {
        return Usage(absl::StrCat("--", name, " needs a value; write --", name, "=VALUE"));
      }
      value = args[++i];
    }
    if (name == "config") {
      if (line.config_file.has_value()) return Usage("--config is given twice; give one file");
      line.config_file = *value;
    } else if (name == "state-dir" || name == "state_dir") {
      if (line.state_dir.has_value()) return Usage("--state-dir is given twice; give one");
      line.state_dir = *value;
    } else {
      if (KindOf(name) != FlagKind::kList) {
        for (const auto& [key, unused] : line.failover_flags) {
          if (key == name) {
            return Usage(absl::StrCat("--", name, " is given twice; give it once",
                                      KindOf(name) == FlagKind::kCommand
                                          ? " with the whole command as a JSON array"
                                          : ""));
          }
        }
      }
      line.failover_flags.emplace_back(name, *value);
    }
  }
  return line;
}

absl::StatusOr<CtyValue> JsonToCtyValue(absl::string_view json) {
  google::protobuf::Value value;
  google::protobuf::util::JsonParseOptions options;
  // A std::string converts to what every protobuf takes here: StringPiece up to 21.x,
  // absl::string_view from 22 on, where StringPiece is gone (protobuf
  // src/google/protobuf/util/json_util.h).
  auto status = google::protobuf::util::JsonStringToMessage(std::string(json), &value, options);
  if (!status.ok()) {
    return Usage(absl::StrCat("not valid JSON (", std::string(status.message()), ")"));
  }
  return FromProtoValue(value);
}

absl::StatusOr<config::PluginConfig> DecodeConfigTree(const CtyValue& root) {
  const config::hclspec::Spec& schema = config::PluginConfigSchema();
  absl::StatusOr<std::string> bytes = config::EncodeCtyForSchema(root, schema);
  if (!bytes.ok()) {
    // Encode option by option to name the one whose type is wrong.
    std::string where = "";
    if (root.kind() == CtyValue::Kind::kMap) {
      for (const CtyValue::Entry& entry : root.entries()) {
        if (config::EncodeCtyForSchema(CtyValue::Map({entry}), schema).ok()) continue;
        where = entry.first;
        if (entry.first == "failover" && entry.second.kind() == CtyValue::Kind::kMap) {
          for (const CtyValue::Entry& inner : entry.second.entries()) {
            CtyValue one = CtyValue::Map({{"failover", CtyValue::Map({inner})}});
            if (!config::EncodeCtyForSchema(one, schema).ok()) {
              where = absl::StrCat("failover.", inner.first);
              break;
            }
          }
        }
        break;
      }
    }
    return absl::InvalidArgumentError(where.empty()
                                          ? PluginPrefixed("config", bytes.status().message())
                                          : PluginPrefixed(where, bytes.status().message()));
  }
  return config::DecodePluginConfig(*bytes);
}

absl::StatusOr<ResolvedConfig> ResolveConfig(const CommandLine& line) {
  CtyValue root = CtyValue::Map({});
  if (line.config_file.has_value()) {
    absl::StatusOr<std::string> text = ReadFile(*line.config_file);
    if (!text.ok()) return text.status();
    absl::StatusOr<CtyValue> parsed = JsonToCtyValue(*text);
    if (!parsed.ok()) {
      return Usage(absl::StrCat("--config ", *line.config_file, ": ", parsed.status().message()));
    }
    absl::StatusOr<CtyValue> block = PluginConfigBlock(*parsed, *line.config_file);
    if (!block.ok()) return block.status();
    root = *std::move(block);
  }
  if (!line.failover_flags.empty()) {
    std::vector<CtyValue::Entry>& entries = root.mutable_entries();
    auto failover = std::find_if(entries.begin(), entries.end(),
                                 [](const CtyValue::Entry& e) { return e.first == "failover"; });
    if (failover == entries.end() || failover->second.kind() != CtyValue::Kind::kMap) {
      if (failover != entries.end()) entries.erase(failover);
      entries.emplace_back("failover", CtyValue::Map({}));
      failover = entries.end() - 1;
    }
    // Group the raw values per key (lists repeat), then set each key once.
    std::vector<std::pair<std::string, std::vector<std::string>>> grouped;
    for (const auto& flag : line.failover_flags) {
      auto it = std::find_if(grouped.begin(), grouped.end(),
                             [&](const auto& g) { return g.first == flag.first; });
      if (it == grouped.end()) {
        grouped.push_back({flag.first, {flag.second}});
      } else {
        it->second.push_back(flag.second);
      }
    }
    std::vector<CtyValue::Entry>& block = failover->second.mutable_entries();
    for (const auto& [name, raw] : grouped) {
      const std::string& key = name;
      absl::StatusOr<CtyValue> value = FlagValue(key, raw);
      if (!value.ok()) return value.status();
      auto existing = std::find_if(block.begin(), block.end(),
                                   [&key](const CtyValue::Entry& e) { return e.first == key; });
      if (existing != block.end()) {
        existing->second = *std::move(value);
      } else {
        block.emplace_back(key, *std::move(value));
      }
    }
  }
  absl::StatusOr<config::PluginConfig> decoded = DecodeConfigTree(root);
  if (!decoded.ok()) return absl::FailedPreconditionError(decoded.status().message());
  ResolvedConfig resolved;
  resolved.plugin = *std::move(decoded);
  resolved.failover_given = resolved.plugin.failover.has_value();
  resolved.state_dir = line.state_dir.value_or(resolved.plugin.state_dir);
  return resolved;
}

}  // namespace carp_exec::operator_cli
