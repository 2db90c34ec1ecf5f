#pragma once
// What `carp_exec status` shows: the plugin's state directory read without changing anything,
// and (when failover options are given) one observation of the node.
//
// JSON form (`status --json`), keys in this order; absent values are null:
//   version            string   carp_exec version
//   state_dir          string   the directory read
//   state_dir_exists   bool
//   ledger             object   <state_dir>/failover/ledger:
//     path, present (bool), error (string|null: unreadable or corrupt),
//     backend, target, boot_id (strings|null), boot_id_current (bool|null: recorded in this
//     boot), share (int: our applied share, 0 when absent), demoted (bool: share > 0),
//     intent (null | {op: "demote"|"restore", amount, count_before (int|null), share_before})
//   handovers          array    task ids whose hand-over is in progress (<state_dir>/failover/
//                               handovers)
//   handovers_error    string|null
//   check_live         null | {pid, started (RFC 3339|null), running (bool)}: a check --live
//                      cycle in progress (running) or interrupted (not running)
//   tasks              array of {id, alloc_id, task_name, command, guarded (bool),
//                      state ("running"|"exited"|"lost"), pid (int|null), exit_code
//                      (int|null), handing_over (bool), dir}
//   tasks_total, guarded_running   ints
//   failover           null (no failover options given) | {backend, state (MASTER|BACKUP|INIT|
//                      FAULT|unknown), holds_vip (bool), vips_held (strings), demote_count
//                      (int|null), detail (string), error (string|null: observation failed)}

#include <optional>
#include <string>
#include <vector>

#include "driver/config/plugin_config.h"
#include "driver/failover/demotion_ledger.h"
#include "driver/failover/failover_files.h"
#include "driver/operator/live_marker.h"
#include "fingerprint/command_runner.h"
#include "fingerprint/node_observer.h"

namespace carp_exec::operator_cli {

struct LedgerView {
  std::string path;
  bool present = false;
  std::string error;  // unreadable or corrupt; empty when fine
  std::optional<failover::LedgerRecord> record;
  std::optional<bool> boot_id_current;  // nullopt when either boot id is unknown
};

struct TaskView {
  std::string id;
  std::string alloc_id;
  std::string task_name;
  std::string command;
  std::string dir;
  bool guarded = false;
  std::string state;  // running | exited | lost
  std::optional<int> pid;
  std::optional<int> exit_code;
  bool handing_over = false;
};

struct ObservedView {
  std::string backend;
  std::optional<fingerprint::Observation> observation;
  std::string error;
};

struct StateReport {
  std::string state_dir;
  bool state_dir_exists = false;
  LedgerView ledger;
  std::vector<std::string> handovers;
  std::string handovers_error;
  std::optional<LiveMarkerView> check_live;
  std::string check_live_error;
  std::vector<TaskView> tasks;
  std::optional<ObservedView> failover;

  int guarded_running() const;
  // True when something could not be read (ledger, hand-overs, observation).
  bool has_errors() const;
};

// The paths and the hand-overs parser are the plugin's own (driver/failover/failover_files.h).
using failover::HandoversPath;
using failover::LedgerPath;
using failover::ReadHandovers;

// Reads everything under `state_dir`; never writes. `boot_id` is the running kernel's (empty =
// unknown).
StateReport ReadStateReport(const std::string& state_dir, const std::string& boot_id);

// One observation with the failover block's observer.
ObservedView ObserveNode(const config::FailoverConfig& failover,
                         fingerprint::CommandRunner* runner);

std::string FormatStateText(const StateReport& report);
std::string FormatStateJson(const StateReport& report);

}  // namespace carp_exec::operator_cli
