#include "driver/config/task_config.h"

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "driver/config/cty_msgpack.h"
#include "driver/config/field_table.h"
#include "driver/config/go_duration.h"
#include "driver/config/value_parsers.h"

namespace carp_exec::config {
namespace {

constexpr absl::string_view kObject = "task config";

absl::StatusOr<std::string> CheckCommand(absl::string_view text) {
  if (text.empty()) {
    return absl::InvalidArgumentError(
        "\"\" is not a command; write command = \"/usr/local/bin/traefik\" or a name in PATH");
  }
  return std::string(text);
}

absl::Status ValidateReady(ReadyCheck& ready, const FieldPath& path) {
  if (!ready.http.has_value() && !ready.tcp.has_value()) {
    return path.Error(
        "needs http or tcp; write e.g. ready { http = \"http://127.0.0.1:8080/ping\" }");
  }
  // A job must not set the rate of work on the plugin's single failover worker: every
  // attempt may take up to 2 s of it (AttemptTimeout and NextAttemptDelay in
  // driver/failover/ready_probe.h bound the share).
  if (ready.interval < kMinReadyInterval || ready.interval > kMaxReadyInterval) {
    return path.Child("interval")
        .Error(absl::StrCat("must be from ", FormatGoDuration(kMinReadyInterval), " to ",
                            FormatGoDuration(kMaxReadyInterval), ", got \"",
                            FormatGoDuration(ready.interval),
                            "\"; write e.g. interval = \"250ms\""));
  }
  if (ready.timeout < ready.interval || ready.timeout > kMaxReadyTimeout) {
    return path.Child("timeout").Error(
        absl::StrCat("must be from the interval (", FormatGoDuration(ready.interval), ") to ",
                     FormatGoDuration(kMaxReadyTimeout), ", got \"",
                     FormatGoDuration(ready.timeout), "\"; write e.g. timeout = \"60s\""));
  }
  // Name resolution cannot be bounded by a deadline and would run on the failover worker:
  // the probe takes addresses only (and localhost, which it maps to 127.0.0.1).
  auto numeric = [](const HostPort& address) {
    return address.host == "localhost" || ParseIpAddress(address.host).ok();
  };
  auto name_error = [&](absl::string_view field, const HostPort& address) {
    return path.Child(field).Error(
        absl::StrCat("has the host name \"", address.host,
                     "\"; give an IP address (or localhost), e.g. 127.0.0.1: the check runs on "
                     "this node and must not wait on DNS"));
  };
  if (ready.http.has_value() && !numeric(ready.http->address)) {
    return name_error("http", ready.http->address);
  }
  if (ready.tcp.has_value() && !numeric(*ready.tcp)) return name_error("tcp", *ready.tcp);
  return absl::OkStatus();
}

// Blank text means "not set" for the optional probes.
absl::StatusOr<std::optional<HttpProbeUrl>> ParseOptionalHttp(absl::string_view text) {
  if (text.empty()) return std::optional<HttpProbeUrl>();
  auto url = ParseHttpProbeUrl(text);
  if (!url.ok()) return url.status();
  return std::optional<HttpProbeUrl>(*std::move(url));
}

absl::StatusOr<std::optional<HostPort>> ParseOptionalHostPort(absl::string_view text) {
  if (text.empty()) return std::optional<HostPort>();
  auto address = ParseHostPort(text);
  if (!address.ok()) return address.status();
  return std::optional<HostPort>(*std::move(address));
}

const FieldTable<ReadyCheck>& ReadyTable() {
  using R = ReadyCheck;
  static const auto* table = new FieldTable<R>(
      {
          ParsedField("http", &R::http, &ParseOptionalHttp),
          ParsedField("tcp", &R::tcp, &ParseOptionalHostPort),
          DurationField("interval", &R::interval).Default("250ms"),
          DurationField("timeout", &R::timeout).Default("60s"),
      },
      &ValidateReady);
  return *table;
}

const FieldTable<TaskConfig>& TaskTable() {
  using T = TaskConfig;
  static const auto* table = new FieldTable<T>({
      ParsedField("command", &T::command, &CheckCommand).Required(),
      StringListField("args", &T::args),
      ParsedField("work_dir", &T::work_dir, &CheckOptionalAbsolutePath),
      StringListField("denied_envvars", &T::denied_envvars),
      WholeNumberField("oom_score_adj", &T::oom_score_adj, 0, 1000).Default(0),
      BoolField("failover", &T::failover).Default(false),
      BlockField("ready", &T::ready, &ReadyTable),
  });
  return *table;
}

}  // namespace

absl::StatusOr<TaskConfig> DecodeTaskConfig(absl::string_view msgpack) {
  try {
    CtyValue root;
    if (!msgpack.empty()) {
      absl::StatusOr<CtyValue> decoded = DecodeCtyMsgpack(msgpack, kObject);
      if (!decoded.ok()) return decoded.status();
      root = *std::move(decoded);
    }
    TaskConfig config;
    absl::Status status = TaskTable().Decode(root, FieldPath{std::string(kObject), ""}, config);
    if (!status.ok()) return status;
    return config;
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat("task config: decoding failed: ", e.what()));
  }
}

const hclspec::Spec& TaskConfigSchema() {
  static const auto* spec = new hclspec::Spec(TaskTable().Schema());
  return *spec;
}

}  // namespace carp_exec::config
