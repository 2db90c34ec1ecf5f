#pragma once
// A task's `config { ... }` block in a job using driver = "carp_exec", sent by Nomad in
// StartTask as cty msgpack (TaskConfig.msgpack_driver_config), with ${...} already resolved.
//
// Defaults live in the field table in task_config.cc, which also produces the schema.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "driver/config/hclspec_builder.h"
#include "driver/config/value_parsers.h"

namespace carp_exec::config {

// `ready { ... }`: when a (replacement) guarded task counts as serving. At least one of
// http and tcp is set; when both are, both must pass.
struct ReadyCheck {
  std::optional<HttpProbeUrl> http;  // "http://127.0.0.1:8080/ping": a 2xx answer passes
  std::optional<HostPort> tcp;       // "127.0.0.1:443": an accepted connection passes
  absl::Duration interval;           // "250ms", kMinReadyInterval..kMaxReadyInterval
  absl::Duration timeout;            // "60s", interval..kMaxReadyTimeout: then probed slowly
};
// Bounds a job may set (the probe runs on the plugin's single failover worker). Hosts must be
// IP addresses or localhost: name resolution cannot be bounded by a deadline.
inline constexpr absl::Duration kMinReadyInterval = absl::Milliseconds(50);
inline constexpr absl::Duration kMaxReadyInterval = absl::Minutes(1);
inline constexpr absl::Duration kMaxReadyTimeout = absl::Hours(1);

struct TaskConfig {
  std::string command;  // required, non-empty
  std::vector<std::string> args;
  std::string work_dir;                     // "" = the task dir; else absolute
  std::vector<std::string> denied_envvars;  // globs, added to the plugin's list
  int oom_score_adj = 0;                    // 0..1000 (Linux; raw_exec allows >= 0)
  bool failover = false;                    // false: plain raw_exec behaviour
  std::optional<ReadyCheck> ready;
};

// Decodes StartTask's msgpack_driver_config. Errors are InvalidArgument naming the option,
// value and fix, e.g. `task config: command is required; set command = <string>`.
absl::StatusOr<TaskConfig> DecodeTaskConfig(absl::string_view msgpack);

// The schema returned by TaskConfigSchema. Built once; never changes.
const hclspec::Spec& TaskConfigSchema();

}  // namespace carp_exec::config
