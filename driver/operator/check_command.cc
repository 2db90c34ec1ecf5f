// `carp_exec check`: the failover options as the plugin sees them, the node's tools and state,
// and (with --live) one real hand-over cycle.

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "driver/config/go_duration.h"
#include "driver/failover/clock.h"
#include "driver/failover/event_text.h"
#include "driver/failover/failover_coordinator.h"
#include "driver/failover/failover_handshake.h"
#include "driver/failover/vrrp_resign.h"
#include "driver/log/hclog.h"
#include "driver/operator/command_line.h"
#include "driver/operator/live_check.h"
#include "driver/operator/operator_cli.h"
#include "driver/operator/state_report.h"
#include "driver/operator/subcommands.h"
#include "driver/tasks/state_dir.h"
#include "fingerprint/carp_tools.h"
#include "fingerprint/change_events.h"
#include "fingerprint/command_runner.h"

namespace carp_exec::operator_cli {
namespace {

// One line per check: "  ok    backend      ...", "  FAIL  ..."; counts failures.
class CheckPrinter {
 public:
  explicit CheckPrinter(std::FILE* out) : out_(out) {}
  void Ok(absl::string_view what, absl::string_view text) { Print("ok  ", what, text); }
  void Fail(absl::string_view what, absl::string_view text) {
    ++failed_;
    Print("FAIL", what, text);
  }
  void Info(absl::string_view what, absl::string_view text) { Print("    ", what, text); }
  int failed() const { return failed_; }

 private:
  void Print(absl::string_view mark, absl::string_view what, absl::string_view text) {
    std::string label(what);
    if (label.size() < 12) label.append(12 - label.size(), ' ');
    Write(out_, absl::StrCat("  ", mark, "  ", label, " ", text, "\n"));
  }
  std::FILE* out_;
  int failed_ = 0;
};

std::string Quoted(const std::vector<std::string>& argv) {
  return absl::StrCat("[",
                      absl::StrJoin(argv, ", ",
                                    [](std::string* out, const std::string& a) {
                                      absl::StrAppend(out, config::QuoteForMessage(a));
                                    }),
                      "]");
}

// The options that matter for this backend, as the plugin decoded them (defaults filled in).
std::string OptionsSummary(const config::FailoverConfig& f) {
  std::vector<std::string> parts;
  switch (f.backend) {
    case config::FailoverBackend::kOpenBsdCarp:
      parts.push_back(absl::StrCat("group ", f.group));
      parts.push_back(absl::StrCat("ifconfig_path ", f.ifconfig_path));
      parts.push_back(absl::StrCat("demote_via ", f.demote_via));
      parts.push_back(absl::StrCat("observe_via ", f.observe_via));
      break;
    case config::FailoverBackend::kFreeBsdCarp:
      parts.push_back(absl::StrCat("sysctl_path ", f.sysctl_path));
      parts.push_back(absl::StrCat("ifconfig_path ", f.ifconfig_path));
      parts.push_back(absl::StrCat("demote_via ", f.demote_via));
      parts.push_back(absl::StrCat("observe_via ", f.observe_via));
      break;
    case config::FailoverBackend::kKeepalived:
      parts.push_back(absl::StrCat("track_file ", f.track_file));
      if (!f.state_file.empty()) parts.push_back(absl::StrCat("state_file ", f.state_file));
      parts.push_back(absl::StrCat("observe_via ", f.observe_via));
      if (f.observe_via == "tool") parts.push_back(absl::StrCat("ip_path ", f.ip_path));
      parts.push_back(absl::StrCat("handover ", f.handover));
      if (f.vrid != 0) parts.push_back(absl::StrCat("vrid ", f.vrid));
      break;
    case config::FailoverBackend::kCommand:
      parts.push_back(absl::StrCat("demote_command ", Quoted(f.demote_command)));
      parts.push_back(absl::StrCat("restore_command ", Quoted(f.restore_command)));
      parts.push_back(absl::StrCat("state_command ", Quoted(f.state_command)));
      break;
  }
  if (!f.interfaces.empty()) {
    parts.push_back(absl::StrCat("interfaces ", absl::StrJoin(f.interfaces, ",")));
  }
  std::vector<std::string> vips;
  for (const config::IpAddress& vip : f.vip) vips.push_back(vip.text);
  if (!vips.empty()) parts.push_back(absl::StrCat("vip ", absl::StrJoin(vips, ",")));
  parts.push_back(absl::StrCat("demote_by ", f.demote_by));
  parts.push_back(absl::StrCat("confirm_timeout ", config::FormatGoDuration(f.confirm_timeout)));
  parts.push_back(absl::StrCat("poll_interval ", config::FormatGoDuration(f.poll_interval)));
  parts.push_back(absl::StrCat("settle ", config::FormatGoDuration(f.settle)));
  if (!f.confirm_command.empty()) {
    parts.push_back(absl::StrCat("confirm_command ", Quoted(f.confirm_command)));
  }
  return absl::StrJoin(parts, ", ");
}

// The ledger as the plugin's Reconcile would judge it, without writing it.
void CheckLedger(const LedgerView& ledger, const failover::DemotionBackend& backend,
                 CheckPrinter& print) {
  if (!ledger.error.empty()) {
    print.Fail("ledger", absl::StrCat(ledger.path, ": ", ledger.error));
    return;
  }
  if (!ledger.record.has_value()) {
    print.Ok("ledger", absl::StrCat("none yet (", ledger.path, "): carp_exec has not demoted"));
    return;
  }
  const failover::LedgerRecord& record = *ledger.record;
  const bool same = record.backend == backend.Name() && record.target == backend.Target();
  if (!same && (record.share > 0 || record.intent.has_value())) {
    print.Fail("ledger",
               absl::StrCat(ledger.path, " records our share ", record.share, " on ",
                            record.backend, " ", record.target, ", but these options say ",
                            backend.Name(), " ", backend.Target(),
                            "; the plugin would refuse to start failover: undo that "
                            "share by hand (or use the old setting) and delete the "
                            "file"));
    return;
  }
  std::string text = absl::StrCat("our share ", record.share, " of ", record.target,
                                  record.share > 0 ? " (this node is demoted by carp_exec)" : "");
  if (record.intent.has_value()) {
    absl::StrAppend(&text, "; an interrupted change is settled at the next reconcile");
  }
  print.Ok("ledger", text);
}

// keepalived: what a stop on the MASTER sends (driver/failover/vrrp_resign.h), and, when this
// process may open the capture socket, the advertisement that would be re-sent. Returns that
// resigner (null when resign is off or cannot open here), so check --live resigns as a stop.
// The rules quoted: the clamp at priority 1 (keepalived/vrrp/vrrp_track.c,
// vrrp_set_effective_priority), Master_Down = 3 x advert_int + Skew_Time and a priority-0
// advert setting it to Skew_Time (RFC 5798 §6.4.2; keepalived vrrp.c vrrp_state_backup,
// VRRP_TIMER_SKEW in keepalived/include/vrrp.h), advert_int up to 255 s (RFC 5798 §5.2.7 gives
// 12 bits of centiseconds; keepalived's parser caps it: vrrp_parser.c, vrrp_adv_handler).
std::unique_ptr<failover::VrrpResigner> PrintKeepalivedRule(const config::FailoverConfig& f,
                                                            CheckPrinter& print) {
  const std::string demote = absl::StrCat(
      "a stop on the MASTER writes ", f.demote_by, " to ", f.track_file,
      " (weight -1: keepalived advertises its priority minus ", f.demote_by, ", at least 1)");
  if (f.handover != "resign") {
    print.Info("rule", absl::StrCat(demote,
                                    "; the peer (preempt on) takes over after its Master_Down "
                                    "timer, 3 x advert_int + skew (handover weighted)"));
    return nullptr;
  }
  print.Info("rule", absl::StrCat(demote,
                                  ", then re-sends this node's latest advertisement with priority "
                                  "0: the peer (preempt on) takes over after its skew time, "
                                  "(256 - its priority)/256 x advert_int, and this node keeps the "
                                  "VIP until the peer advertises (handover resign)"));
  if (absl::Status s = failover::ResignSelectable(f.vrid, failover::Ipv4Vips(f)); !s.ok()) {
    print.Info("resign", absl::StrCat("off, the plugin hands over weighted: ", s.message()));
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<failover::VrrpResigner>> resigner =
      failover::OpenVrrpResigner(f.vrid, failover::Ipv4Vips(f), f.interfaces);
  if (!resigner.ok()) {
    print.Info("resign", absl::StrCat("cannot look from here (", resigner.status().message(),
                                      "); the plugin falls back to weighted if it cannot either"));
    return nullptr;
  }
  // A MASTER advertises every advert_int (keepalived allows up to 255 s; look 1.5 s).
  for (int i = 0; i < 15 && !(*resigner)->HasSeenAdvert(); ++i)
    absl::SleepFor(absl::Milliseconds(100));
  print.Info("resign", (*resigner)->Describe(f.demote_by));
  return *std::move(resigner);
}

// What the kernel's rules make of these options (driver/failover/README.md, "What the BSD
// kernels do"): what the peer must have for a hand-over and a failback. Informational: the
// backend line already fails on what can be checked here.
// Returns keepalived's resigner when it could open (PrintKeepalivedRule), else null.
std::unique_ptr<failover::VrrpResigner> PrintTakeoverRule(const config::FailoverConfig& f,
                                                          fingerprint::CommandRunner* runner,
                                                          CheckPrinter& print) {
  if (f.backend == config::FailoverBackend::kKeepalived) return PrintKeepalivedRule(f, print);
  if (f.backend != config::FailoverBackend::kOpenBsdCarp &&
      f.backend != config::FailoverBackend::kFreeBsdCarp) {
    return nullptr;
  }
  const fingerprint::CarpTools tools{runner, f.ifconfig_path, f.sysctl_path};
  absl::StatusOr<bool> preempt = fingerprint::ReadCarpPreempt(tools);
  const std::string preempt_text =
      preempt.ok() ? absl::StrCat("net.inet.carp.preempt is ", *preempt ? "1" : "0", " here")
                   : "net.inet.carp.preempt unreadable here";
  if (f.backend == config::FailoverBackend::kOpenBsdCarp) {
    print.Info("rule", absl::StrCat("a demotion of group ", f.group,
                                    " is advertised at once and the peer takes over as soon as "
                                    "this node's demote count exceeds its own (no preempt "
                                    "needed); failback needs "
                                    "net.inet.carp.preempt=1 on the preferred node (",
                                    preempt_text, ") and waits for the peer's next advert"));
    return nullptr;
  }
  absl::StatusOr<std::vector<fingerprint::CarpInterfaceStatus>> interfaces =
      fingerprint::ReadCarpInterfaces(tools, fingerprint::CarpOs::kFreeBsd, f.interfaces, "");
  std::vector<std::string> skews;
  if (interfaces.ok()) {
    for (const fingerprint::CarpInterfaceStatus& iface : *interfaces) {
      for (const fingerprint::CarpVhid& vhid : iface.vhids) {
        skews.push_back(
            absl::StrCat(iface.name, " vhid ", vhid.vhid, " advskew ", vhid.advskew, " -> ",
                         fingerprint::FreeBsdAdvertisedSkew(vhid.advskew, f.demote_by)));
      }
    }
  }
  print.Info("rule", absl::StrCat("demoted, this node advertises min(advskew + ", f.demote_by,
                                  ", 240)", skews.empty() ? "" : ": ", absl::StrJoin(skews, ", "),
                                  "; the peer takes over only with net.inet.carp.preempt=1 there "
                                  "and an advskew below that (",
                                  preempt_text, ")"));
  return nullptr;
}

}  // namespace

int RunCheck(const std::vector<std::string>& args, std::FILE* out, std::FILE* err) {
  absl::StatusOr<CommandLine> line = ParseCommandLine(args, AcceptedFlags{.live = true});
  if (!line.ok()) {
    Write(err, absl::StrCat("carp_exec check: ", line.status().message(), "\n"));
    return kExitUsage;
  }
  if (line->help) {
    Write(out, UsageText());
    return kExitOk;
  }
  log::SetLevel(line->verbose ? log::Level::kDebug : log::Level::kError);
  if (!line->config_file.has_value() && line->failover_flags.empty()) {
    Write(err,
          "carp_exec check: give the failover options, e.g. --backend=openbsd-carp --group=edge "
          "--interfaces=carp1 --vip=192.0.2.10, or --config FILE\n");
    return kExitUsage;
  }
  absl::StatusOr<ResolvedConfig> resolved = ResolveConfig(*line);
  if (!resolved.ok()) {
    if (absl::IsInvalidArgument(resolved.status())) {
      Write(err, absl::StrCat("carp_exec check: ", resolved.status().message(), "\n"));
      return kExitUsage;
    }
    Write(out, "carp_exec check\n");
    CheckPrinter print(out);
    print.Fail("options", resolved.status().message());
    Write(out, "result: the plugin would reject these options\n");
    return kExitCheckFailed;
  }
  if (!resolved->failover_given) {
    Write(err, absl::StrCat("carp_exec check: ", *line->config_file,
                            " has no failover block; add \"failover\": {\"backend\": ...} or give "
                            "--backend\n"));
    return kExitUsage;
  }
  const config::FailoverConfig& failover = *resolved->plugin.failover;
  const std::string& state_dir = resolved->state_dir;
  Write(out, absl::StrCat("carp_exec check: failover backend ",
                          config::FailoverBackendName(failover.backend), ", state dir ", state_dir,
                          "\n"));
  CheckPrinter print(out);
  print.Ok("options", OptionsSummary(failover));

  fingerprint::SystemCommandRunner runner;
  std::unique_ptr<failover::DemotionBackend> backend =
      failover::MakeDemotionBackend(failover, &runner);
  if (absl::Status s = backend->CheckUsable(); !s.ok()) {
    print.Fail("backend", s.message());
  } else {
    absl::StatusOr<std::optional<int>> count = backend->CurrentCount();
    std::string value;
    if (count.ok() && count->has_value()) {
      value = backend->Kind() == failover::CounterKind::kSharedCounter
                  ? absl::StrCat(" (demote count ", **count, ")")
                  : absl::StrCat(" (holds ", **count, ")");
    }
    print.Ok("backend", absl::StrCat(backend->Name(), " can act on ", backend->Target(), value));
  }

  // keepalived with handover = "resign": the same resigner serves check --live below.
  std::unique_ptr<failover::VrrpResigner> resigner = PrintTakeoverRule(failover, &runner, print);

  std::unique_ptr<fingerprint::NodeObserver> observer;
  absl::StatusOr<std::unique_ptr<fingerprint::NodeObserver>> made =
      fingerprint::MakeNodeObserver(failover::ObserverOptionsFor(failover), &runner);
  if (!made.ok()) {
    print.Fail("observer", made.status().message());
  } else if (absl::Status s = (*made)->CheckUsable(); !s.ok()) {
    print.Fail("observer", s.message());
  } else {
    observer = *std::move(made);
    print.Ok("observer", failover.interfaces.empty()
                             ? "the state can be observed"
                             : absl::StrCat("interfaces ", absl::StrJoin(failover.interfaces, ", "),
                                            " can be observed"));
  }
  if (observer != nullptr) {
    absl::StatusOr<fingerprint::Observation> seen = observer->Observe();
    if (!seen.ok()) {
      print.Fail("state", seen.status().message());
    } else {
      std::string text = failover::StateText(*seen);
      if (seen->demote_count) absl::StrAppend(&text, "; demote count ", *seen->demote_count);
      print.Ok("state", text);
      print.Info("", seen->detail);
    }
  }

  if (absl::Status s = tasks::CheckSocketPathFits(state_dir); !s.ok()) {
    print.Fail("state_dir", s.message());
  }
  StateReport report = ReadStateReport(state_dir, failover::ReadBootId());
  CheckLedger(report.ledger, *backend, print);
  if (!report.handovers_error.empty()) {
    print.Fail("hand-overs", report.handovers_error);
  } else {
    print.Info("hand-overs",
               report.handovers.empty()
                   ? "none in progress"
                   : absl::StrCat("in progress: ", absl::StrJoin(report.handovers, ", ")));
  }
  print.Info("tasks", absl::StrCat(report.guarded_running(), " guarded task(s) running, ",
                                   report.tasks.size(), " on disk"));

  if (print.failed() > 0) {
    Write(out, absl::StrCat("result: ", print.failed(), print.failed() == 1 ? " check" : " checks",
                            " failed", line->live ? "; --live not attempted" : "", "\n"));
    return kExitCheckFailed;
  }
  if (!line->live) {
    Write(out, "result: all checks passed\n");
    return kExitOk;
  }

  Write(out, absl::StrCat("live cycle: demote -> confirm -> restore through ",
                          LedgerPath(state_dir), "\n"));
  LiveCycleParts parts;
  parts.config = &failover;
  parts.state_dir = state_dir;
  parts.runner = &runner;
  parts.clock = failover::SystemClock();
  parts.backend = backend.get();
  parts.observer = observer.get();
  parts.boot_id = failover::ReadBootId();
  parts.verbose = line->verbose;
  parts.print = [out](const std::string& text) { Write(out, absl::StrCat(text, "\n")); };
  // As a stop in the plugin: resign after the demotion, and wake on the kernel's change events.
  parts.resigner = resigner.get();
  parts.open_events = [options = failover::ObserverOptionsFor(failover), verbose = line->verbose,
                       out]() -> std::unique_ptr<fingerprint::ChangeEventSource> {
    absl::StatusOr<std::unique_ptr<fingerprint::ChangeEventSource>> opened =
        fingerprint::OpenChangeEventSource(options);
    if (opened.ok()) return *std::move(opened);
    // As in the plugin (a Debug line there): the cycle polls at poll_interval only.
    if (verbose) {
      Write(out, absl::StrCat("    confirmation polls only: ", opened.status().message(), "\n"));
    }
    return nullptr;
  };
  LiveCycleResult result = RunLiveCycle(parts);
  switch (result.outcome) {
    case LiveCycleResult::Outcome::kOk:
      Write(out, absl::StrCat("result: ", result.summary, "\n"));
      return kExitOk;
    case LiveCycleResult::Outcome::kRefused:
      Write(out, absl::StrCat("result: refused: ", result.summary, "\n"));
      Write(err, absl::StrCat("carp_exec check --live: refused: ", result.summary, "\n"));
      return kExitRefused;
    case LiveCycleResult::Outcome::kFailed:
      break;
  }
  Write(out, absl::StrCat("result: FAILED: ", result.summary, "\n"));
  return kExitCheckFailed;
}

}  // namespace carp_exec::operator_cli
