#include "driver/operator/live_check.h"

#include <unistd.h>

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "driver/failover/atomic_file.h"
#include "driver/failover/demotion_ledger.h"
#include "driver/failover/event_text.h"
#include "driver/failover/failover_event.h"
#include "driver/failover/failover_files.h"
#include "driver/failover/failover_handshake.h"
#include "driver/operator/live_marker.h"
#include "driver/operator/state_report.h"
#include "driver/tasks/state_dir.h"
#include "fingerprint/vrrp_state.h"

namespace carp_exec::operator_cli {
namespace {

using fingerprint::Observation;
using fingerprint::VrrpState;
using Outcome = LiveCycleResult::Outcome;

std::string Ms(absl::Duration d) { return absl::StrCat(absl::ToInt64Milliseconds(d), " ms"); }

std::string Line(absl::string_view label, absl::string_view text) {
  std::string padded(label);
  if (padded.size() < 16) padded.append(16 - padded.size(), ' ');
  return absl::StrCat("  ", padded, text);
}

// Passes observations through and notes, once the demotion is applied, when BACKUP and the
// absence of the VIPs were first seen. The handshake polls through it, so the timings are the
// handshake's own polls (resolution: poll_interval).
class TimingObserver final : public fingerprint::NodeObserver {
 public:
  TimingObserver(fingerprint::NodeObserver* inner, failover::Clock* clock, LiveCycleResult* result,
                 const std::function<void(const std::string&)>* print)
      : inner_(inner), clock_(clock), result_(result), print_(print) {}

  void Arm(std::vector<std::string> vips_before) {
    armed_ = true;
    vips_before_ = std::move(vips_before);
  }

  absl::StatusOr<Observation> Observe() override {
    absl::StatusOr<Observation> seen = inner_->Observe();
    if (!armed_ || !seen.ok()) return seen;
    const absl::Duration since = clock_->Now() - result_->demoted_at;
    if (!result_->backup_after && seen->state == VrrpState::kBackup) {
      result_->backup_after = since;
      (*print_)(Line("state BACKUP", absl::StrCat("after ", Ms(since))));
    }
    if (!result_->vip_gone_after && !vips_before_.empty() && !seen->holds_vip) {
      result_->vip_gone_after = since;
      (*print_)(Line("VIP gone",
                     absl::StrCat("after ", Ms(since), " (", absl::StrJoin(vips_before_, ", "),
                                  " no longer on this node)")));
    }
    return seen;
  }

  absl::Status CheckUsable() override { return inner_->CheckUsable(); }

 private:
  fingerprint::NodeObserver* inner_;
  failover::Clock* clock_;
  LiveCycleResult* result_;
  const std::function<void(const std::string&)>* print_;
  bool armed_ = false;
  std::vector<std::string> vips_before_;
};

class PrintingSink final : public failover::EventSink {
 public:
  PrintingSink(const std::function<void(const std::string&)>* print, bool verbose)
      : print_(print), verbose_(verbose) {}
  void Emit(const failover::FailoverEvent& event) override {
    // What the resign did is part of the timeline (it decides the peer's timer); the rest
    // only with --verbose.
    auto resign = event.annotations.find("resign");
    if (resign != event.annotations.end()) {
      (*print_)(Line(resign->second == "sent" ? "resigned" : "resign", event.message));
    }
    if (!verbose_ || resign != event.annotations.end()) return;
    auto phase = event.annotations.find("phase");
    (*print_)(absl::StrCat("    event ", phase == event.annotations.end() ? "" : phase->second,
                           ": ", event.message));
  }

 private:
  const std::function<void(const std::string&)>* print_;
  bool verbose_;
};

LiveCycleResult Refused(std::string why) {
  LiveCycleResult result;
  result.outcome = Outcome::kRefused;
  result.summary = std::move(why);
  return result;
}

LiveCycleResult Failed(std::string why, int share) {
  LiveCycleResult result;
  result.outcome = Outcome::kFailed;
  result.summary = std::move(why);
  result.share_after = share;
  return result;
}

}  // namespace

LiveCycleResult RunLiveCycle(const LiveCycleParts& parts) {
  const config::FailoverConfig& config = *parts.config;
  const auto& print = parts.print;
  // check --live writes the ledger as root, like the plugin: the same ownership rule as
  // SetConfig (state_dir.h), so another user's directory cannot redirect those writes.
  // Created first as the plugin does at SetConfig (a fresh node has none yet), then checked
  // before anything under it is read or written.
  if (absl::Status made = failover::MakeDirectories(parts.state_dir); !made.ok()) {
    return Failed(absl::StrCat("state_dir: ", made.message()), 0);
  }
  if (absl::Status safe = tasks::CheckStateDirOwnership(parts.state_dir); !safe.ok()) {
    return Refused(std::string(safe.message()));
  }
  // The plugin holds this lock for its whole life: the ledger is its own while it runs.
  absl::StatusOr<std::unique_ptr<failover::FailoverLock>> owner =
      failover::FailoverLock::Acquire(parts.state_dir, "carp_exec check --live");
  if (!owner.ok()) {
    if (absl::IsFailedPrecondition(owner.status())) {
      return Refused(std::string(owner.status().message()));
    }
    return Failed(std::string(owner.status().message()), 0);
  }
  absl::StatusOr<std::unique_ptr<LiveMarkerLock>> lock = LiveMarkerLock::Acquire(parts.state_dir);
  if (!lock.ok()) {
    if (absl::IsFailedPrecondition(lock.status()))
      return Refused(std::string(lock.status().message()));
    return Failed(std::string(lock.status().message()), 0);
  }
  const bool interrupted = (*lock)->interrupted().has_value();
  auto refuse = [&](std::string why) {
    if (!interrupted) (void)(*lock)->Remove();  // only the empty file we created
    return Refused(std::move(why));
  };

  // The plugin is using the ledger for a stop right now: do not touch it.
  absl::StatusOr<std::vector<std::string>> handovers = ReadHandovers(parts.state_dir);
  if (!handovers.ok()) return Failed(std::string(handovers.status().message()), 0);
  if (!handovers->empty()) {
    return refuse(absl::StrCat(
        "a hand-over is in progress for ", absl::StrJoin(*handovers, ", "), " (",
        HandoversPath(parts.state_dir),
        "); wait until the stop has finished (`carp_exec status` shows it), then run again"));
  }

  failover::DemotionLedger ledger(LedgerPath(parts.state_dir), parts.backend, parts.boot_id);
  absl::StatusOr<failover::ReconcileReport> reconciled = ledger.Reconcile();
  if (!reconciled.ok()) {
    return Failed(absl::StrCat("demotion ledger: ", reconciled.status().message()), 0);
  }
  for (const std::string& note : reconciled->notes) print(Line("ledger", note));
  if (interrupted) {
    const LiveMarker& earlier = *(*lock)->interrupted();
    if (ledger.share() > 0) {
      absl::StatusOr<failover::LedgerChange> undo = ledger.Restore();
      if (!undo.ok()) {
        return Failed(absl::StrCat("an interrupted check --live (pid ", earlier.pid,
                                   ") left our share ", ledger.share(),
                                   " applied, and restoring it "
                                   "failed: ",
                                   undo.status().message()),
                      ledger.share());
      }
      print(
          Line("recovered", absl::StrCat("an interrupted check --live (pid ", earlier.pid,
                                         ") had left our share applied: ",
                                         failover::RestoredText(parts.backend->Target(), *undo))));
    } else {
      print(Line("recovered", absl::StrCat("an interrupted check --live (pid ", earlier.pid,
                                           ") had left nothing applied")));
    }
    if (absl::Status s = (*lock)->Remove(); !s.ok()) return Failed(std::string(s.message()), 0);
  }
  if (ledger.share() > 0) {
    return refuse(absl::StrCat(
        "carp_exec holds this node demoted (our share ", ledger.share(), " of ",
        parts.backend->Target(), " in ", ledger.path(),
        "): no guarded task here is running and ready, so the peer serves the VIP; a live cycle "
        "would end by restoring it. Start the guarded task (or let its replacement become ready) "
        "first"));
  }

  LiveCycleResult result;
  absl::StatusOr<Observation> before = parts.observer->Observe();
  if (!before.ok()) return Failed(std::string(before.status().message()), ledger.share());
  result.was_master = before->state == VrrpState::kMaster || before->holds_vip;
  print(Line("before", absl::StrCat(failover::StateText(*before),
                                    before->demote_count ? absl::StrCat(" (demote count ",
                                                                        *before->demote_count, ")")
                                                         : "")));

  if (absl::Status s =
          (*lock)->Record(LiveMarker{static_cast<int>(::getpid()), parts.clock->WallNow()});
      !s.ok()) {
    return Failed(absl::StrCat("cannot record the cycle: ", s.message()), ledger.share());
  }

  TimingObserver timing(parts.observer, parts.clock, &result, &print);
  PrintingSink sink(&print, parts.verbose);
  failover::FailoverHandshake handshake(
      failover::TaskRef{"carp_exec check --live", "", "check --live"},
      failover::FailoverHandshake::Parts{&config, parts.backend->Target(), &timing, parts.runner,
                                         parts.clock, &sink, parts.resigner});
  if (parts.open_events) handshake.set_open_events(parts.open_events);
  failover::HandoverReport report = handshake.Run([&]() -> absl::StatusOr<failover::LedgerChange> {
    absl::StatusOr<failover::LedgerChange> change = ledger.Demote(config.demote_by);
    result.demoted_at = parts.clock->Now();
    if (change.ok()) {
      print(Line("demoted at",
                 // demoted_at is monotonic (for the durations); the line shows wall time.
                 absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", parts.clock->WallNow(),
                                               absl::UTCTimeZone()),
                              ": ", failover::DemotedText(parts.backend->Target(), *change))));
      timing.Arm(before->vips_held);
    }
    return change;
  });

  // The handshake waits only when its first poll after the demotion still sees MASTER or the
  // VIP; a move faster than that poll is still a move when this node was MASTER before.
  bool ok = report.error.ok();
  if (!report.error.ok()) {
    print(Line("demote FAILED", report.summary));
  } else if (report.confirmed && (report.waited || result.was_master)) {
    result.confirmed = true;
    result.confirmed_after = parts.clock->Now() - result.demoted_at;
    print(Line("confirmed",
               absl::StrCat("after ", Ms(*result.confirmed_after), " (the handshake took ",
                            Ms(report.elapsed), " from its start, the demotion included)")));
  } else if (report.confirmed) {
    result.confirmed = true;
    print(Line("no move", absl::StrCat(report.summary,
                                       " (this node was not MASTER: run check --live on the "
                                       "MASTER to measure a move)")));
  } else {
    ok = false;
    print(Line("NOT CONFIRMED", report.summary));
  }

  // Restore whatever the ledger holds, also after a failed demotion (a partial step may be in).
  if (ledger.share() > 0) {
    absl::StatusOr<failover::LedgerChange> restore = ledger.Restore();
    result.restored_at = parts.clock->Now();
    if (!restore.ok()) {
      result.share_after = ledger.share();
      result.outcome = Outcome::kFailed;
      result.summary = absl::StrCat(
          "restoring failed: ", restore.status().message(), "; this node stays demoted (our share ",
          ledger.share(), "). Fix the cause and run check --live again: it restores the share");
      print(Line("restore FAILED", result.summary));
      return result;  // the marker stays: the next run knows the share is ours
    }
    result.restored = true;
    print(Line("restored at",
               absl::StrCat("+", Ms(result.restored_at - result.demoted_at), ": ",
                            failover::RestoredText(parts.backend->Target(), *restore))));
  }
  result.share_after = ledger.share();
  if (absl::Status s = (*lock)->Remove(); !s.ok()) print(Line("warning", s.message()));

  if (result.was_master && result.restored) {
    const absl::Time deadline = result.restored_at + config.confirm_timeout;
    std::optional<Observation> last;
    for (;;) {
      absl::StatusOr<Observation> seen = parts.observer->Observe();
      if (seen.ok()) last = *seen;
      if (seen.ok() && seen->state == VrrpState::kMaster) {
        result.master_after = parts.clock->Now() - result.restored_at;
        print(Line("back to MASTER",
                   absl::StrCat("after ", Ms(*result.master_after), " (from the restore)")));
        break;
      }
      if (parts.clock->Now() >= deadline) {
        print(Line("note", absl::StrCat("not MASTER again within ",
                                        absl::FormatDuration(config.confirm_timeout), " (",
                                        last ? failover::StateText(*last) : "not observable",
                                        "): the peer keeps the VIP; that is expected without "
                                        "preemption (net.inet.carp.preempt=0, keepalived "
                                        "nopreempt)")));
        break;
      }
      parts.clock->SleepFor(std::min(config.poll_interval, deadline - parts.clock->Now()));
    }
  }
  print(Line("ledger", absl::StrCat("our share ", result.share_after, " (", ledger.path(), ")")));
  result.outcome = ok ? Outcome::kOk : Outcome::kFailed;
  if (result.summary.empty()) {
    result.summary = ok ? "the hand-over works: demoted, confirmed and restored"
                     : !report.error.ok()
                         ? absl::StrCat("the demotion failed: ", report.error.message())
                         : absl::StrCat("the hand-over was not confirmed: ", report.summary);
  }
  return result;
}

}  // namespace carp_exec::operator_cli
