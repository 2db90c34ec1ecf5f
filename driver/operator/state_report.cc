#include "driver/operator/state_report.h"

#include <sys/stat.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "carp_exec/driver_state.pb.h"
#include "carp_exec/version.h"
#include "driver/failover/atomic_file.h"
#include "driver/failover/event_text.h"
#include "driver/failover/failover_handshake.h"
#include "driver/operator/json_writer.h"
#include "driver/tasks/state_dir.h"
#include "fingerprint/vrrp_state.h"

namespace carp_exec::operator_cli {
namespace {

absl::string_view LivenessName(tasks::PersistedTask::Liveness liveness) {
  switch (liveness) {
    case tasks::PersistedTask::Liveness::kRunning:
      return "running";
    case tasks::PersistedTask::Liveness::kExited:
      return "exited";
    case tasks::PersistedTask::Liveness::kLost:
      return "lost";
  }
  return "lost";
}

LedgerView ReadLedger(absl::string_view state_dir, const std::string& boot_id) {
  LedgerView view;
  view.path = LedgerPath(state_dir);
  absl::StatusOr<std::optional<std::string>> text = failover::ReadFileIfExists(view.path);
  if (!text.ok()) {
    view.error = std::string(text.status().message());
    return view;
  }
  if (!text->has_value()) return view;
  view.present = true;
  absl::StatusOr<failover::LedgerRecord> record = failover::ParseLedger(**text);
  if (!record.ok()) {
    view.error = absl::StrCat("corrupt (", record.status().message(),
                              "); the plugin will refuse to start failover until it is fixed");
    return view;
  }
  if (!record->boot_id.empty() && !boot_id.empty()) {
    view.boot_id_current = record->boot_id == boot_id;
  }
  view.record = *std::move(record);
  return view;
}

TaskView DescribeTask(const tasks::PersistedTask& task) {
  TaskView view;
  view.id = task.task_id;
  view.dir = task.state_dir;
  view.guarded = task.guarded;
  view.state = std::string(LivenessName(task.liveness));
  state::LaunchSpec spec;
  if (tasks::ReadMessage(absl::StrCat(task.state_dir, "/", tasks::kSpecFile), &spec).ok()) {
    view.alloc_id = spec.alloc_id();
    view.task_name = spec.task_name();
    view.command = spec.command();
  }
  state::ProcessRecord process;
  if (tasks::ReadMessage(absl::StrCat(task.state_dir, "/", tasks::kPidFile), &process).ok() &&
      process.task().pid() > 0) {
    view.pid = process.task().pid();
  }
  state::ExitRecord exit;
  if (task.liveness == tasks::PersistedTask::Liveness::kExited &&
      tasks::ReadMessage(absl::StrCat(task.state_dir, "/", tasks::kExitFile), &exit).ok()) {
    view.exit_code = exit.exit_code();
  }
  return view;
}

std::string IntentText(const failover::LedgerIntent& intent) {
  return absl::StrCat(
      intent.op == failover::LedgerIntent::Op::kDemote ? "demote " : "restore ", intent.amount,
      " (counter before: ", intent.count_before ? absl::StrCat(*intent.count_before) : "unknown",
      ", our share before: ", intent.share_before, ")");
}

}  // namespace

int StateReport::guarded_running() const {
  return static_cast<int>(std::count_if(tasks.begin(), tasks.end(), [](const TaskView& task) {
    return task.guarded && task.state == "running";
  }));
}

bool StateReport::has_errors() const {
  return !ledger.error.empty() || !handovers_error.empty() || !check_live_error.empty() ||
         (failover.has_value() && !failover->error.empty());
}

StateReport ReadStateReport(const std::string& state_dir, const std::string& boot_id) {
  StateReport report;
  report.state_dir = state_dir;
  struct stat st;
  report.state_dir_exists = ::stat(state_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  report.ledger = ReadLedger(state_dir, boot_id);
  absl::StatusOr<std::vector<std::string>> handovers = ReadHandovers(state_dir);
  if (handovers.ok()) {
    report.handovers = *std::move(handovers);
  } else {
    report.handovers_error = std::string(handovers.status().message());
  }
  absl::StatusOr<std::optional<LiveMarkerView>> marker = ReadLiveMarker(state_dir);
  if (marker.ok()) {
    report.check_live = *marker;
  } else {
    report.check_live_error = std::string(marker.status().message());
  }
  if (report.state_dir_exists) {
    for (const tasks::PersistedTask& task : tasks::ScanStateDir(state_dir)) {
      TaskView view = DescribeTask(task);
      view.handing_over = std::find(report.handovers.begin(), report.handovers.end(), view.id) !=
                          report.handovers.end();
      report.tasks.push_back(std::move(view));
    }
    std::sort(report.tasks.begin(), report.tasks.end(),
              [](const TaskView& a, const TaskView& b) { return a.id < b.id; });
  }
  return report;
}

ObservedView ObserveNode(const config::FailoverConfig& failover,
                         fingerprint::CommandRunner* runner) {
  ObservedView view;
  view.backend = std::string(config::FailoverBackendName(failover.backend));
  absl::StatusOr<std::unique_ptr<fingerprint::NodeObserver>> observer =
      fingerprint::MakeNodeObserver(failover::ObserverOptionsFor(failover), runner);
  if (!observer.ok()) {
    view.error = std::string(observer.status().message());
    return view;
  }
  absl::StatusOr<fingerprint::Observation> seen = (*observer)->Observe();
  if (!seen.ok()) {
    view.error = std::string(seen.status().message());
    return view;
  }
  view.observation = *std::move(seen);
  return view;
}

std::string FormatStateText(const StateReport& report) {
  std::string out = absl::StrCat("carp_exec ", kPluginVersion, ", state dir ", report.state_dir,
                                 report.state_dir_exists ? "" : " (does not exist yet)", "\n");
  const LedgerView& ledger = report.ledger;
  absl::StrAppend(&out, "ledger      ", ledger.path, "\n");
  if (!ledger.error.empty()) {
    absl::StrAppend(&out, "            ERROR: ", ledger.error, "\n");
  } else if (!ledger.record.has_value()) {
    absl::StrAppend(&out, "            none: carp_exec has never demoted this node\n");
  } else {
    const failover::LedgerRecord& record = *ledger.record;
    absl::StrAppend(
        &out, "            our share ", record.share, " of ", record.target, " (", record.backend,
        ")", record.share > 0 ? ": this node is demoted by carp_exec" : ": not demoted", "\n");
    if (ledger.boot_id_current.has_value() && !*ledger.boot_id_current) {
      absl::StrAppend(&out,
                      "            recorded before the last reboot: the plugin resets a kernel "
                      "counter share to 0 at its next start\n");
    }
    if (record.intent.has_value()) {
      absl::StrAppend(&out, "            interrupted change: ", IntentText(*record.intent),
                      "; settled when the plugin (or check --live) reconciles the ledger\n");
    }
  }
  absl::StrAppend(&out, "hand-overs  ");
  if (!report.handovers_error.empty()) {
    absl::StrAppend(&out, "ERROR: ", report.handovers_error, "\n");
  } else if (report.handovers.empty()) {
    absl::StrAppend(&out, "none in progress\n");
  } else {
    absl::StrAppend(&out, "in progress for ", absl::StrJoin(report.handovers, ", "), "\n");
  }
  if (!report.check_live_error.empty()) {
    absl::StrAppend(&out, "check-live  ERROR: ", report.check_live_error, "\n");
  } else if (report.check_live.has_value()) {
    const LiveMarkerView& live = *report.check_live;
    absl::StrAppend(
        &out, "check-live  ",
        live.running ? "a check --live cycle is running (pid "
                     : "a check --live cycle was interrupted (pid ",
        live.marker.pid, ", started ",
        absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", live.marker.started, absl::LocalTimeZone()), ")",
        live.running ? "" : "; run check --live again to restore its share", "\n");
  }
  absl::StrAppend(&out, "tasks       ", report.tasks.size(), " on disk, ", report.guarded_running(),
                  " guarded running\n");
  for (const TaskView& task : report.tasks) {
    absl::StrAppend(&out, "  ", task.state,
                    task.state.size() < 7 ? std::string(7 - task.state.size(), ' ') : "", " ",
                    task.guarded ? "guarded " : "        ", task.id);
    if (task.pid.has_value() && task.state == "running") absl::StrAppend(&out, "  pid ", *task.pid);
    if (task.exit_code.has_value()) absl::StrAppend(&out, "  exit ", *task.exit_code);
    if (!task.command.empty()) absl::StrAppend(&out, "  ", task.command);
    if (task.handing_over) absl::StrAppend(&out, "  (hand-over in progress)");
    absl::StrAppend(&out, "\n");
  }
  if (report.failover.has_value()) {
    const ObservedView& seen = *report.failover;
    absl::StrAppend(&out, "failover    ", seen.backend, ": ");
    if (!seen.error.empty()) {
      absl::StrAppend(&out, "ERROR: ", seen.error, "\n");
    } else {
      const fingerprint::Observation& o = *seen.observation;
      absl::StrAppend(&out, failover::StateText(o));
      if (o.demote_count.has_value()) absl::StrAppend(&out, "; demote count ", *o.demote_count);
      absl::StrAppend(&out, "\n            ", o.detail, "\n");
    }
  }
  return out;
}

std::string FormatStateJson(const StateReport& report) {
  JsonWriter json;
  json.BeginObject();
  json.Key("version").String(kPluginVersion);
  json.Key("state_dir").String(report.state_dir);
  json.Key("state_dir_exists").Bool(report.state_dir_exists);

  const LedgerView& ledger = report.ledger;
  const failover::LedgerRecord* record = ledger.record ? &*ledger.record : nullptr;
  json.Key("ledger").BeginObject();
  json.Key("path").String(ledger.path);
  json.Key("present").Bool(ledger.present);
  json.Key("error");
  ledger.error.empty() ? json.Null() : json.String(ledger.error);
  json.Key("backend");
  record ? json.String(record->backend) : json.Null();
  json.Key("target");
  record ? json.String(record->target) : json.Null();
  json.Key("boot_id");
  record && !record->boot_id.empty() ? json.String(record->boot_id) : json.Null();
  json.Key("boot_id_current");
  ledger.boot_id_current ? json.Bool(*ledger.boot_id_current) : json.Null();
  json.Key("share").Int(record ? record->share : 0);
  json.Key("demoted").Bool(record != nullptr && record->share > 0);
  json.Key("intent");
  if (record && record->intent.has_value()) {
    const failover::LedgerIntent& intent = *record->intent;
    json.BeginObject();
    json.Key("op").String(intent.op == failover::LedgerIntent::Op::kDemote ? "demote" : "restore");
    json.Key("amount").Int(intent.amount);
    json.Key("count_before").OptionalInt(intent.count_before);
    json.Key("share_before").Int(intent.share_before);
    json.EndObject();
  } else {
    json.Null();
  }
  json.EndObject();

  json.Key("handovers").StringArray(report.handovers);
  json.Key("handovers_error");
  report.handovers_error.empty() ? json.Null() : json.String(report.handovers_error);
  json.Key("check_live");
  if (report.check_live.has_value()) {
    const LiveMarkerView& live = *report.check_live;
    json.BeginObject();
    json.Key("pid").Int(live.marker.pid);
    json.Key("started");
    live.marker.started == absl::InfinitePast()
        ? json.Null()
        : json.String(
              absl::FormatTime(absl::RFC3339_full, live.marker.started, absl::UTCTimeZone()));
    json.Key("running").Bool(live.running);
    json.EndObject();
  } else {
    json.Null();
  }

  json.Key("tasks").BeginArray();
  for (const TaskView& task : report.tasks) {
    json.BeginObject();
    json.Key("id").String(task.id);
    json.Key("alloc_id").String(task.alloc_id);
    json.Key("task_name").String(task.task_name);
    json.Key("command").String(task.command);
    json.Key("guarded").Bool(task.guarded);
    json.Key("state").String(task.state);
    json.Key("pid").OptionalInt(task.pid);
    json.Key("exit_code").OptionalInt(task.exit_code);
    json.Key("handing_over").Bool(task.handing_over);
    json.Key("dir").String(task.dir);
    json.EndObject();
  }
  json.EndArray();
  json.Key("tasks_total").Int(static_cast<int64_t>(report.tasks.size()));
  json.Key("guarded_running").Int(report.guarded_running());

  json.Key("failover");
  if (report.failover.has_value()) {
    const ObservedView& seen = *report.failover;
    const fingerprint::Observation* o = seen.observation ? &*seen.observation : nullptr;
    json.BeginObject();
    json.Key("backend").String(seen.backend);
    json.Key("state").String(o ? fingerprint::VrrpStateName(o->state) : "unknown");
    json.Key("holds_vip").Bool(o != nullptr && o->holds_vip);
    json.Key("vips_held").StringArray(o ? o->vips_held : std::vector<std::string>());
    json.Key("demote_count");
    o && o->demote_count ? json.Int(*o->demote_count) : json.Null();
    json.Key("detail").String(o ? o->detail : "");
    json.Key("error");
    seen.error.empty() ? json.Null() : json.String(seen.error);
    json.EndObject();
  } else {
    json.Null();
  }
  json.EndObject();
  return json.text() + "\n";
}

}  // namespace carp_exec::operator_cli
