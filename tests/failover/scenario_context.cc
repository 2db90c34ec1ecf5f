#include "tests/failover/scenario_context.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace carp_exec::failover_test {

absl::StatusOr<std::unique_ptr<ScenarioContext>> ScenarioContext::Create(
    const std::string& env_path, ScenarioSettings settings) {
  absl::StatusOr<TestbedEnv> env = TestbedEnv::Load(env_path);
  if (!env.ok()) return env.status();
  std::unique_ptr<ScenarioContext> ctx(new ScenarioContext(std::move(*env), std::move(settings)));
  std::optional<std::string> ip = FindInPath("ip");
  if (!ip) return absl::NotFoundError("the ip tool is not in PATH; apt-get install iproute2");
  ctx->ip_ = *ip;
  // Debian's python3 first: a pyenv shim in PATH is a shell script that is slow to start.
  if (access("/usr/bin/python3", X_OK) == 0) {
    ctx->python_ = "/usr/bin/python3";
  } else if (std::optional<std::string> python = FindInPath("python3")) {
    ctx->python_ = *python;
  } else {
    return absl::NotFoundError("python3 is not in PATH; apt-get install python3");
  }
  if (access(ctx->settings_.plugin.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("plugin \"", ctx->settings_.plugin,
                                            "\" is not executable; build the carp_exec target "
                                            "or pass --plugin"));
  }
  // Child `testbed` calls find this test bed through these two variables.
  setenv("CX_PREFIX", ctx->env_.Must("CX_PREFIX").c_str(), 1);
  setenv("CX_RUN_DIR", ctx->env_.Must("CX_RUN_DIR").c_str(), 1);
  return ctx;
}

absl::Duration ScenarioContext::ConfirmTimeout() const {
  absl::Duration d;
  if (!absl::ParseDuration(settings_.confirm_timeout, &d)) return absl::Seconds(5);
  return d;
}

absl::Status ScenarioContext::Testbed(const std::vector<std::string>& args,
                                      absl::Duration timeout) {
  std::vector<std::string> argv = {settings_.source_dir + "/testbed"};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<CommandResult> result = RunCommand(argv, timeout);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat("testbed ", args.empty() ? "" : args[0],
                                            " failed (exit ", result->exit_code,
                                            "): ", result->output));
  }
  return absl::OkStatus();
}

void ScenarioContext::KillStrays() {
  const std::string dir = run_dir() + "/edge-a/";
  std::set<std::string> keep;
  // keepalived and the test bed's kernel witness (addrmon.pid: ip monitor address) stay.
  for (const char* file : {"keepalived.pid", "vrrp.pid", "keepalived.launch.pid", "addrmon.pid"}) {
    std::ifstream in(dir + file);
    std::string pid;
    if (in >> pid) keep.insert(pid);
  }
  absl::StatusOr<CommandResult> pids =
      RunCommand({ip_, "netns", "pids", env_.Must("CX_NS_A")}, absl::Seconds(5));
  if (!pids.ok()) return;
  for (absl::string_view pid : absl::StrSplit(pids->output, '\n', absl::SkipWhitespace())) {
    int value = 0;
    if (keep.contains(std::string(pid)) || !absl::SimpleAtoi(pid, &value) || value <= 1) continue;
    kill(value, SIGKILL);
  }
}

absl::Status ScenarioContext::Reset() {
  KillStrays();
  for (const char* node : {"edge-a", "edge-b"}) {
    if (absl::Status s = Testbed({"demote", node, "0"}); !s.ok()) return s;
  }
  // edge-b's keepalived may have been stopped by the peer-down scenario.
  absl::StatusOr<CommandResult> status =
      RunCommand({settings_.source_dir + "/testbed", "status"}, absl::Seconds(10));
  if (status.ok() && status->exit_code != 0) {
    if (absl::Status s = Testbed({"start-keepalived", "edge-b"}); !s.ok()) return s;
  }
  if (absl::Status s = Testbed({"serve", "edge-b", "peer"}); !s.ok()) return s;
  if (absl::Status s = Testbed({"wait-master", "edge-a", "10"}); !s.ok()) {
    return absl::DeadlineExceededError(
        absl::StrCat("edge-a did not become MASTER within 10 s after the reset: ", s.message()));
  }
  // A few adverts so both sides agree before traffic starts.
  absl::SleepFor(absl::Milliseconds(300));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PluginSession>> ScenarioContext::StartPlugin(absl::string_view tag) {
  SessionOptions options;
  options.plugin = settings_.plugin;
  options.ip = ip_;
  options.netns = env_.Must("CX_NS_A");
  options.state_dir = absl::StrCat(run_dir(), "/edge-a/plugin-", tag);
  options.log_path = absl::StrCat(run_dir(), "/edge-a/plugin-", tag, ".log");
  mkdir(options.state_dir.c_str(), 0700);
  options.failover.track_file = env_.Must("CX_TRACK_A");
  options.failover.state_file = env_.Must("CX_STATE_A");
  options.failover.vip = vip();
  options.failover.interface = env_.Must("CX_IFACE");
  options.failover.confirm_timeout = settings_.confirm_timeout;
  options.failover.poll_interval = settings_.poll_interval;
  options.failover.demote_by = settings_.demote_by;
  options.failover.handover = settings_.handover;
  return PluginSession::Start(std::move(options));
}

std::string ScenarioContext::ServerLog(absl::string_view tag, absl::string_view generation) const {
  return absl::StrCat(run_dir(), "/edge-a/server-", tag, "-", generation, ".jsonl");
}

ServerTask ScenarioContext::Server(absl::string_view tag, absl::string_view generation) const {
  ServerTask task;
  task.python = python_;
  task.server_script = settings_.source_dir + "/http_server.py";
  task.name = absl::StrCat(tag, "-", generation);
  task.event_log = ServerLog(tag, generation);
  return task;
}

absl::Status ScenarioContext::WaitServing(const FileWatcher& track, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (track.Current() != "0") {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "carp_exec did not restore edge-a (track file ", env_.Must("CX_TRACK_A"), " still \"",
          track.Current(), "\") within ", absl::FormatDuration(timeout),
          " after the guarded server started; see the plugin log in ", run_dir(), "/edge-a/"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  const int64_t seconds = std::max<int64_t>(1, absl::ToInt64Seconds(deadline - absl::Now()));
  return Testbed({"wait-master", "edge-a", absl::StrCat(seconds)});
}

std::string ScenarioContext::ProbeLog(absl::string_view tag) const {
  return absl::StrCat(run_dir(), "/client/probe-", tag, ".jsonl");
}

absl::StatusOr<ChildProcess> ScenarioContext::StartProbe(absl::string_view tag,
                                                         absl::Duration window,
                                                         std::string* summary_path) {
  const std::string base = absl::StrCat(run_dir(), "/client/probe-", tag);
  *summary_path = base + ".json";
  std::remove(summary_path->c_str());
  const double seconds = absl::ToDoubleSeconds(window);
  return ChildProcess::Spawn({ip_,          "netns",
                              "exec",       env_.Must("CX_NS_CLIENT"),
                              python_,      settings_.source_dir + "/probe.py",
                              "--url",      absl::StrCat("http://", vip(), ":8080/"),
                              "--interval", "0.05",
                              "--timeout",  "0.5",
                              "--duration", absl::StrCat(seconds),
                              "--count",    absl::StrCat(static_cast<int64_t>(seconds / 0.05) + 10),
                              "--out",      ProbeLog(tag),
                              "--summary",  *summary_path},
                             base + ".log");
}

void ScenarioContext::Expect(bool condition, absl::string_view what) {
  std::printf("  %s %s\n", condition ? "ok  " : "FAIL", std::string(what).c_str());
  std::fflush(stdout);
  if (!condition) ++failures_;
}

void ScenarioContext::Note(absl::string_view what) {
  std::printf("       %s\n", std::string(what).c_str());
  std::fflush(stdout);
}

}  // namespace carp_exec::failover_test
