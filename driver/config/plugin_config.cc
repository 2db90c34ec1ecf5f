#include "driver/config/plugin_config.h"

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "driver/config/cty_msgpack.h"
#include "driver/config/field_table.h"
#include "driver/config/go_duration.h"
#include "fingerprint/carp_kernel.h"
#include "fingerprint/node_observer.h"

namespace carp_exec::config {
namespace {

constexpr absl::string_view kObject = "plugin config";

absl::StatusOr<log::Level> ParseLogLevel(absl::string_view text) {
  log::Level level;
  if (log::ParseLevel(text, &level)) return level;
  return absl::InvalidArgumentError(absl::StrCat(
      QuoteForMessage(text), " is not a log level; use trace, debug, info, warn or error"));
}

absl::Status RequireList(const std::vector<std::string>& list, const FieldPath& path,
                         absl::string_view backend, absl::string_view example) {
  if (list.empty()) {
    return path.Error(absl::StrCat("is required for backend \"", backend, "\"; set ", path.Name(),
                                   " = ", example));
  }
  return absl::OkStatus();
}

absl::Status ValidateFailover(FailoverConfig& failover, const FieldPath& path) {
  const absl::string_view backend = FailoverBackendName(failover.backend);
  const std::pair<const char*, const std::vector<std::string>*> commands[] = {
      {"confirm_command", &failover.confirm_command},
      {"demote_command", &failover.demote_command},
      {"restore_command", &failover.restore_command},
      {"state_command", &failover.state_command}};
  for (const auto& [name, command] : commands) {
    if (!command->empty() && (*command)[0].empty()) {
      return path.Child(name).Item(0).Error(
          "must name the program to run; write e.g. [\"/usr/local/bin/check\", \"arg\"]");
    }
  }
  switch (failover.backend) {
    case FailoverBackend::kOpenBsdCarp:
      if (failover.group.empty()) {
        return path.Child("group").Error(
            "is required for backend \"openbsd-carp\": give the carp interface that carries the "
            "FailOver IP a group of its own (`ifconfig carp1 group edge`, and `group edge` in "
            "/etc/hostname.carp1) and set group = \"edge\"");
      }
      if (auto group = CheckInterfaceGroup(failover.group); !group.ok()) {
        return path.Child("group").Wrap(group.status());
      }
      // /etc/rc raises group carp by 128 before netstart and lowers it after rc.local and the
      // package daemons (OpenBSD etc/rc, "carp interlock"): a crash of ours while rc moves that
      // counter by 128 would be misread by the ledger's reconciliation.
      if (failover.group == "carp") {
        return path.Child("group").Error(
            "must not be \"carp\": /etc/rc demotes group carp by 128 during boot (its "
            "interlock) while carp_exec may already run, and every carp interface is in it; "
            "give the FailOver IP's carp interface a dedicated group (`ifconfig carp1 group "
            "edge`, `group edge` in /etc/hostname.carp1) and set group = \"edge\"");
      }
      if (failover.interfaces.empty()) failover.interfaces = {"carp0"};
      break;
    case FailoverBackend::kFreeBsdCarp:
      break;
    case FailoverBackend::kKeepalived:
      if (failover.track_file.empty()) {
        return path.Child("track_file")
            .Error(
                "is required for backend \"keepalived\"; set track_file = "
                "\"/run/carp_exec/demote\" and track that file in keepalived.conf with weight -1");
      }
      if (failover.handover.empty()) failover.handover = "resign";
      if (failover.handover != "resign" && failover.handover != "weighted") {
        return path.Child("handover")
            .Error(
                absl::StrCat("must be \"resign\" (demote, then send one priority-0 advertisement: "
                             "the peer takes over after its skew time) or \"weighted\" (demote "
                             "only: the peer waits out its Master_Down timer), got ",
                             QuoteForMessage(failover.handover)));
      }
      if (failover.handover == "weighted" && failover.vrid != 0) {
        // vrid only picks the virtual router to resign; a weighted hand-over never uses it.
        return path.Child("vrid").Error(
            "is for backend \"keepalived\" with handover = \"resign\" only; remove it for "
            "handover = \"weighted\"");
      }
      break;
    case FailoverBackend::kCommand:
      for (const auto& [name, command] : commands) {
        if (absl::string_view(name) == "confirm_command") continue;
        if (absl::Status s = RequireList(*command, path.Child(name), backend,
                                         "[\"/usr/local/bin/vip-control\", \"...\"]");
            !s.ok()) {
          return s;
        }
      }
      break;
  }
  if (failover.backend != FailoverBackend::kKeepalived) {
    // The CARP kernels advertise a demotion themselves (README "What the BSD kernels do").
    if (!failover.handover.empty() && failover.handover != "weighted") {
      return path.Child("handover")
          .Error(absl::StrCat(
              "is for backend \"keepalived\" only (\"resign\" or \"weighted\"); backend \"",
              backend, "\" hands over through its demotion alone: remove handover, got ",
              QuoteForMessage(failover.handover)));
    }
    if (failover.vrid != 0) {
      return path.Child("vrid").Error(absl::StrCat(
          "is for backend \"keepalived\" with handover = \"resign\" only; remove it for "
          "backend \"",
          backend, "\""));
    }
    failover.handover = "weighted";
  }
  if (failover.demote_via != "kernel" && failover.demote_via != "tool") {
    return path.Child("demote_via")
        .Error(absl::StrCat("must be \"kernel\" or \"tool\", got ",
                            QuoteForMessage(failover.demote_via)));
  }
  const bool carp = failover.backend == FailoverBackend::kOpenBsdCarp ||
                    failover.backend == FailoverBackend::kFreeBsdCarp;
  if (carp && failover.demote_via == "kernel" && !fingerprint::KernelDemotionAvailable()) {
    return path.Child("demote_via")
        .Error(
            "is \"kernel\", but this build has no in-process demotion (OpenBSD and FreeBSD builds "
            "only); set demote_via = \"tool\"");
  }
  const bool in_kernel_here = fingerprint::KernelObservationAvailable(failover.backend);
  if (failover.observe_via.empty()) failover.observe_via = in_kernel_here ? "kernel" : "tool";
  if (failover.observe_via != "kernel" && failover.observe_via != "tool") {
    return path.Child("observe_via")
        .Error(absl::StrCat("must be \"kernel\" or \"tool\", got ",
                            QuoteForMessage(failover.observe_via)));
  }
  if (failover.backend != FailoverBackend::kCommand && failover.observe_via == "kernel" &&
      !in_kernel_here) {
    return path.Child("observe_via")
        .Error(absl::StrCat("is \"kernel\", but this build cannot observe backend \"", backend,
                            "\" in-process (keepalived: Linux builds, openbsd-carp: OpenBSD, "
                            "freebsd-carp: FreeBSD); set observe_via = \"tool\""));
  }
  if (failover.demote_by == 0) failover.demote_by = fingerprint::DefaultDemoteBy(failover.backend);
  if (failover.confirm_timeout <= absl::ZeroDuration()) {
    return path.Child("confirm_timeout")
        .Error("must be longer than 0s, got \"0s\"; write e.g. confirm_timeout = \"10s\"");
  }
  if (failover.poll_interval <= absl::ZeroDuration()) {
    return path.Child("poll_interval")
        .Error("must be longer than 0s, got \"0s\"; write e.g. poll_interval = \"50ms\"");
  }
  if (failover.poll_interval >= failover.confirm_timeout) {
    return path.Child("poll_interval")
        .Error(absl::StrCat("must be shorter than confirm_timeout (",
                            FormatGoDuration(failover.confirm_timeout), "), got \"",
                            FormatGoDuration(failover.poll_interval),
                            "\"; lower poll_interval or raise confirm_timeout"));
  }
  // Covers Nomad's re-sent StopTask after a relaunch (shutdown_delay included); past an hour a
  // node would sit demoted under a serving task for no reason.
  if (failover.recover_stop_grace <= absl::ZeroDuration() ||
      failover.recover_stop_grace > absl::Hours(1)) {
    return path.Child("recover_stop_grace")
        .Error(absl::StrCat("must be from 1ns to 1h, got \"",
                            FormatGoDuration(failover.recover_stop_grace),
                            "\"; write e.g. recover_stop_grace = \"1m\" (longer than the job's "
                            "shutdown_delay)"));
  }
  return absl::OkStatus();
}

const FieldTable<FailoverConfig>& FailoverTable() {
  using F = FailoverConfig;
  static const auto* table = new FieldTable<F>(
      {
          ParsedField("backend", &F::backend, &ParseFailoverBackend).Required(),
          StringField("group", &F::group),
          ParsedListField("interfaces", &F::interfaces, &CheckInterfaceName),
          WholeNumberField("demote_by", &F::demote_by,
                           [](const F& earlier) {
                             return std::pair<int64_t, int64_t>(
                                 1, fingerprint::MaxDemoteStep(earlier.backend));
                           }),
          ParsedListField("vip", &F::vip, &ParseIpAddress),
          DurationField("confirm_timeout", &F::confirm_timeout).Default("10s"),
          DurationField("poll_interval", &F::poll_interval).Default("50ms"),
          DurationField("settle", &F::settle).Default("0s"),
          DurationField("recover_stop_grace", &F::recover_stop_grace).Default("1m"),
          StringListField("confirm_command", &F::confirm_command),
          ParsedField("track_file", &F::track_file, &CheckOptionalAbsolutePath),
          ParsedField("state_file", &F::state_file, &CheckOptionalAbsolutePath),
          StringListField("demote_command", &F::demote_command),
          StringListField("restore_command", &F::restore_command),
          StringListField("state_command", &F::state_command),
          ParsedField("ifconfig_path", &F::ifconfig_path, &CheckAbsolutePath)
              .Default("/sbin/ifconfig"),
          ParsedField("sysctl_path", &F::sysctl_path, &CheckAbsolutePath).Default("/sbin/sysctl"),
          ParsedField("ip_path", &F::ip_path, &CheckAbsolutePath).Default("/sbin/ip"),
          StringField("demote_via", &F::demote_via).Default(CtyValue::String(DefaultDemoteVia())),
          // No schema default: it depends on the backend (ValidateFailover fills it in).
          StringField("observe_via", &F::observe_via),
          StringField("handover", &F::handover),
          WholeNumberField("vrid", &F::vrid, 1, 255),
      },
      &ValidateFailover);
  return *table;
}

const FieldTable<PluginConfig>& PluginTable() {
  using P = PluginConfig;
  static const auto* table = new FieldTable<P>({
      ParsedField("log_level", &P::log_level, &ParseLogLevel).Default("info"),
      ParsedField("state_dir", &P::state_dir, &CheckAbsolutePath)
          .Default(CtyValue::String(DefaultStateDir())),
      BoolField("enabled", &P::enabled).Default(true),
      ParsedField("denied_host_uids", &P::denied_host_uids, &ParseIdRanges),
      ParsedField("denied_host_gids", &P::denied_host_gids, &ParseIdRanges),
      StringListField("denied_envvars", &P::denied_envvars),
      BlockField("failover", &P::failover, &FailoverTable),
  });
  return *table;
}

}  // namespace

absl::string_view FailoverBackendName(FailoverBackend backend) {
  return fingerprint::BackendKindName(backend);
}

absl::StatusOr<FailoverBackend> ParseFailoverBackend(absl::string_view text) {
  absl::StatusOr<FailoverBackend> kind = fingerprint::ParseBackendKind(text);
  if (kind.ok()) return kind;
  return absl::InvalidArgumentError(absl::StrCat(
      QuoteForMessage(text), " is not a failover backend; ", fingerprint::kBackendKindChoices));
}

absl::string_view DefaultDemoteVia() {
  return fingerprint::KernelDemotionAvailable() ? "kernel" : "tool";
}

absl::string_view DefaultStateDir() {
#if defined(__OpenBSD__) || defined(__FreeBSD__)
  return "/var/db/carp_exec";
#else
  return "/var/lib/carp_exec";
#endif
}

absl::StatusOr<PluginConfig> DecodePluginConfig(absl::string_view msgpack) {
  try {
    CtyValue root;  // no bytes: Nomad had no config block, so every default applies
    if (!msgpack.empty()) {
      absl::StatusOr<CtyValue> decoded = DecodeCtyMsgpack(msgpack, kObject);
      if (!decoded.ok()) return decoded.status();
      root = *std::move(decoded);
    }
    PluginConfig config;
    absl::Status status = PluginTable().Decode(root, FieldPath{std::string(kObject), ""}, config);
    if (!status.ok()) return status;
    return config;
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat("plugin config: decoding failed: ", e.what()));
  }
}

const hclspec::Spec& PluginConfigSchema() {
  static const auto* spec = new hclspec::Spec(PluginTable().Schema());
  return *spec;
}

}  // namespace carp_exec::config
