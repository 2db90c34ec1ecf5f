#pragma once
// Shared set-up for the failover end-to-end scenarios: the test bed's env, tool paths, the verdict
// bookkeeping, and the steps every scenario repeats (reset the test bed, start carp_exec in
// edge-a with a guarded server that is serving and holds the VIP).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/failover/observers.h"
#include "tests/failover/plugin_session.h"
#include "tests/failover/testbed_env.h"

namespace carp_exec::failover_test {

struct ScenarioSettings {
  std::string plugin;      // build/carp_exec
  std::string source_dir;  // tests/failover (testbed, http_server.py, probe.py)
  std::string confirm_timeout = "5s";
  std::string poll_interval = "20ms";
  int64_t demote_by = 253;          // the plugin's keepalived default
  std::string handover = "resign";  // --handover; rolling-update-weighted sets "weighted"
  absl::Duration replacement_delay = absl::Milliseconds(500);
  absl::Duration probe_before = absl::Seconds(1);  // traffic before the stop
  absl::Duration probe_after = absl::Seconds(1);   // traffic after the restore
  absl::Duration kill_timeout = absl::Seconds(5);  // Nomad's kill_timeout for StopTask
};

class ScenarioContext {
 public:
  static absl::StatusOr<std::unique_ptr<ScenarioContext>> Create(const std::string& env_path,
                                                                 ScenarioSettings settings);

  const TestbedEnv& env() const { return env_; }
  const ScenarioSettings& settings() const { return settings_; }
  // For the scenario that runs the same steps with the other hand-over.
  void set_handover(std::string handover) { settings_.handover = std::move(handover); }
  const std::string& ip() const { return ip_; }
  const std::string& python() const { return python_; }
  std::string vip() const { return env_.Must("CX_VIP"); }
  std::string run_dir() const { return env_.Must("CX_RUN_DIR"); }
  absl::Duration ConfirmTimeout() const;

  // Runs `testbed VERB ARGS...` (bounded); an error carries its output.
  absl::Status Testbed(const std::vector<std::string>& args,
                       absl::Duration timeout = absl::Seconds(30));
  // Both edges undemoted and running keepalived, edge-b serving, nothing of ours left on
  // edge-a, edge-a MASTER with the VIP.
  absl::Status Reset();
  // SIGKILLs every process in edge-a's namespace that is not its keepalived or the test bed's
  // kernel witness (ip monitor address): servers and supervisors a failed scenario left behind.
  void KillStrays();

  // carp_exec in edge-a with the failover block, state dir <run>/edge-a/plugin-<tag>.
  absl::StatusOr<std::unique_ptr<PluginSession>> StartPlugin(absl::string_view tag);
  // The guarded server task `<tag>-<generation>`; its event log path is ServerLog(...).
  ServerTask Server(absl::string_view tag, absl::string_view generation) const;
  std::string ServerLog(absl::string_view tag, absl::string_view generation) const;
  // After the first StartServer: wait until carp_exec restored the node (track file 0) and
  // edge-a is MASTER with the VIP again.
  absl::Status WaitServing(const FileWatcher& track, absl::Duration timeout);

  // Starts the probe from the client namespace for `window`; summary at `summary_path`, one line
  // per request at ProbeLog(tag).
  absl::StatusOr<ChildProcess> StartProbe(absl::string_view tag, absl::Duration window,
                                          std::string* summary_path);
  std::string ProbeLog(absl::string_view tag) const;

  // Verdicts: Expect prints "  ok   ..." or "  FAIL ..." and counts failures.
  void Expect(bool condition, absl::string_view what);
  void Note(absl::string_view what);
  int failures() const { return failures_; }

 private:
  ScenarioContext(TestbedEnv env, ScenarioSettings settings)
      : env_(std::move(env)), settings_(std::move(settings)) {}

  TestbedEnv env_;
  ScenarioSettings settings_;
  std::string ip_;
  std::string python_;
  int failures_ = 0;
};

// The scenarios; each returns after cleaning up what it started. Failures are counted in ctx.
void RollingUpdateScenario(ScenarioContext& ctx);
void CrashScenario(ScenarioContext& ctx);
void CrashMidHandOverScenario(ScenarioContext& ctx);
void PeerDownScenario(ScenarioContext& ctx);
void OverlappingStopsScenario(ScenarioContext& ctx);
void LateReadyScenario(ScenarioContext& ctx);

}  // namespace carp_exec::failover_test
