#include "driver/failover/failover_handshake.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "driver/failover/event_text.h"
#include "driver/log/hclog.h"
#include "fingerprint/vrrp_state.h"

namespace carp_exec::failover {

using fingerprint::Observation;
using fingerprint::VrrpState;

namespace {
constexpr absl::Duration kConfirmCommandTimeout = absl::Seconds(5);

bool MustWait(const std::optional<Observation>& seen) {
  // Unobservable counts as "might hold the VIP": waiting (bounded) is the safe side.
  return !seen.has_value() || seen->state == VrrpState::kMaster || seen->holds_vip ||
         seen->state == VrrpState::kUnknown;
}
}  // namespace

absl::string_view HandoverPhaseName(HandoverPhase phase) {
  switch (phase) {
    case HandoverPhase::kIdle:
      return "idle";
    case HandoverPhase::kDemoting:
      return "demoting";
    case HandoverPhase::kConfirming:
      return "confirming";
    case HandoverPhase::kSignalled:
      return "signalled";
    case HandoverPhase::kExited:
      return "exited";
    case HandoverPhase::kHeld:
      return "held";
    case HandoverPhase::kRestored:
      return "restored";
  }
  return "unknown";
}

fingerprint::ObserverOptions ObserverOptionsFor(const config::FailoverConfig& config) {
  fingerprint::ObserverOptions options;
  options.backend = config.backend;
  options.group = config.group;
  options.interfaces = config.interfaces;
  for (const config::IpAddress& vip : config.vip) options.vips.push_back(vip.text);
  options.ifconfig_path = config.ifconfig_path;
  options.sysctl_path = config.sysctl_path;
  options.ip_path = config.ip_path;
  options.state_file = config.state_file;
  options.state_command = config.state_command;
  options.observe_in_kernel = config.observe_via == "kernel";
  return options;
}

FailoverHandshake::FailoverHandshake(TaskRef task, Parts parts)
    : task_(std::move(task)), parts_(std::move(parts)) {}

void FailoverHandshake::EmitEvent(EventSink* sink, const TaskRef& task, absl::string_view phase,
                                  std::string message,
                                  std::map<std::string, std::string> annotations, bool detail) {
  annotations["phase"] = std::string(phase);
  // The sink writes the log line (the service adapter's does); without one, log here so no
  // transition goes unrecorded.
  if (sink == nullptr) {
    log::Info("failover", message,
              {{"task_id", task.task_id}, {"alloc_id", task.alloc_id}, {"phase", phase}});
    return;
  }
  sink->Emit(FailoverEvent{task, std::move(message), std::move(annotations), detail});
}

void FailoverHandshake::Transition(HandoverPhase to, std::string message,
                                   std::map<std::string, std::string> annotations) {
  annotations["previous_phase"] = std::string(HandoverPhaseName(phase_));
  annotations["backend"] = std::string(config::FailoverBackendName(parts_.config->backend));
  // Tool processes SystemCommandRunner started (any thread) since Begin: 0 on the event path.
  // Task supervisors and exec sessions are spawned elsewhere and are not counted.
  if (to == HandoverPhase::kSignalled) {
    annotations["forks"] = absl::StrCat(fingerprint::ProcessesSpawned() - spawned_at_begin_);
  }
  phase_ = to;
  const bool detail = to == HandoverPhase::kDemoting || to == HandoverPhase::kConfirming;
  EmitEvent(parts_.sink, task_, HandoverPhaseName(to), std::move(message), std::move(annotations),
            detail);
}

FailoverHandshake::Poll FailoverHandshake::PollOnce() {
  Poll poll;
  absl::StatusOr<Observation> seen = parts_.observer->Observe();
  if (!seen.ok()) {
    poll.observe_error = std::string(seen.status().message());
    return poll;
  }
  poll.observation = *seen;
  if (seen->state != VrrpState::kBackup || seen->holds_vip) return poll;
  const std::vector<std::string>& command = parts_.config->confirm_command;
  if (command.empty()) {
    poll.confirmed = true;
    return poll;
  }
  absl::StatusOr<fingerprint::CommandResult> result =
      parts_.runner->Run(command, kConfirmCommandTimeout);
  if (!result.ok()) {
    poll.confirm_error = std::string(result.status().message());
  } else if (!result->Succeeded()) {
    poll.confirm_error = fingerprint::DescribeCommandResult(*result);
  } else {
    poll.confirmed = true;
  }
  return poll;
}

HandoverReport FailoverHandshake::Run(const DemoteFn& demote) {
  std::optional<HandoverReport> report = Begin(demote);
  while (!report.has_value()) {
    const absl::Duration pause = next_step_at_ - parts_.clock->Now();
    if (events_ != nullptr) {
      events_->Wait(absl::Now() + pause, -1);  // a change, or the poll's turn: look again
    } else {
      parts_.clock->SleepFor(pause);
    }
    report = Continue();
  }
  return *std::move(report);
}

std::optional<HandoverReport> FailoverHandshake::NothingToHandOver() {
  Clock* clock = parts_.clock;
  const absl::Time start = clock->Now();
  const uint64_t spawned = fingerprint::ProcessesSpawned();
  absl::StatusOr<Observation> seen = parts_.observer->Observe();
  if (!seen.ok() || MustWait(*seen)) return std::nullopt;
  start_ = start;
  spawned_at_begin_ = spawned;
  report_ = HandoverReport();
  report_.confirmed = true;
  report_.summary = absl::StrCat("state ", StateText(*seen),
                                 ": nothing to hand over, no wait (demoting after the signal)");
  const std::string state(fingerprint::VrrpStateName(seen->state));
  Transition(HandoverPhase::kConfirming, report_.summary, {{"state", state}});
  report_.elapsed = clock->Now() - start_;
  Transition(HandoverPhase::kSignalled, "signalling the task",
             {{"waited_ms", "0"}, {"confirmed", "true"}, {"state", state}});
  return report_;
}

std::optional<HandoverReport> FailoverHandshake::Begin(const DemoteFn& demote) {
  const config::FailoverConfig& config = *parts_.config;
  Clock* clock = parts_.clock;
  start_ = clock->Now();
  spawned_at_begin_ = fingerprint::ProcessesSpawned();
  report_ = HandoverReport();

  // Opened before the demotion so the change it causes cannot slip past.
  events_ = open_events_ ? open_events_() : nullptr;
  absl::StatusOr<LedgerChange> change = demote();
  if (!change.ok()) {
    report_.error = change.status();
    report_.summary = absl::StrCat("cannot demote ", parts_.target, ": ", change.status().message(),
                                   "; stopping the task without a hand-over");
    Transition(HandoverPhase::kDemoting, report_.summary, {{"error", "demote"}});
    Transition(HandoverPhase::kConfirming, "no confirmation: the demotion failed");
    report_.elapsed = clock->Now() - start_;
    Transition(HandoverPhase::kSignalled, "signalling the task");
    return report_;
  }
  report_.demoted = change->share_after > 0;
  std::map<std::string, std::string> demoted_notes = {{"share", absl::StrCat(change->share_after)}};
  if (change->count_before)
    demoted_notes["demote_count_before"] = absl::StrCat(*change->count_before);
  if (change->count_after) demoted_notes["demote_count_after"] = absl::StrCat(*change->count_after);
  demoted_text_ = DemotedText(parts_.target, *change);
  Transition(HandoverPhase::kDemoting, demoted_text_, demoted_notes);

  poll_ = PollOnce();
  polls_ = 1;
  before_state_ = poll_.observation
                      ? std::string(fingerprint::VrrpStateName(poll_.observation->state))
                      : "unknown";
  if (!MustWait(poll_.observation)) {
    report_.confirmed = true;
    report_.summary = absl::StrCat("state ", StateText(*poll_.observation),
                                   ": nothing to hand over, no wait (", demoted_text_, ")");
    Transition(HandoverPhase::kConfirming, report_.summary, {{"state", before_state_}});
    report_.elapsed = clock->Now() - start_;
    Transition(HandoverPhase::kSignalled, "signalling the task",
               {{"waited_ms", "0"}, {"confirmed", "true"}});
    return report_;
  }

  report_.waited = true;
  MaybeResign(change->share_after);
  vips_before_ = poll_.observation ? poll_.observation->vips_held : std::vector<std::string>();
  Transition(HandoverPhase::kConfirming,
             absl::StrCat("state ",
                          poll_.observation ? StateText(*poll_.observation)
                                            : absl::StrCat("unknown (", poll_.observe_error, ")"),
                          ": waiting up to ", absl::FormatDuration(config.confirm_timeout),
                          " for the peer to take over"),
             {{"state", before_state_}});
  deadline_ = start_ + config.confirm_timeout;
  settled_at_.reset();
  if (poll_.confirmed) return Continue();  // BACKUP with the VIP gone at the first look
  next_step_at_ = std::min(clock->Now() + config.poll_interval, deadline_);
  return std::nullopt;
}

void FailoverHandshake::MaybeResign(int share) {
  resign_text_.clear();
  resign_pending_ = false;
  // Never when the demotion failed (Begin returned before this) or this node is not MASTER:
  // a priority-0 advertisement from a BACKUP would make the peer think the master left.
  if (parts_.resigner == nullptr || !report_.demoted || !poll_.observation.has_value() ||
      poll_.observation->state != fingerprint::VrrpState::kMaster) {
    return;
  }
  resign_share_ = share;
  TryResign(/*first=*/true);
}

void FailoverHandshake::TryResign(bool first) {
  absl::StatusOr<std::string> resigned = parts_.resigner->Resign(resign_share_);
  // Begin's attempts are part of the demoting phase; a retry from Continue keeps the phase.
  const auto emit = [&](std::string message, std::map<std::string, std::string> notes) {
    if (first) {
      Transition(HandoverPhase::kDemoting, std::move(message), std::move(notes));
    } else {
      EmitEvent(parts_.sink, task_, HandoverPhaseName(phase_), std::move(message), std::move(notes),
                /*detail=*/true);
    }
  };
  if (resigned.ok()) {
    resign_pending_ = false;
    resign_text_ = absl::StrCat("; ", *resigned);
    emit(*resigned, {{"resign", "sent"}});
    return;
  }
  // Unavailable: not yet (a unicast peer before keepalived advertised the demoted priority, or
  // a failed send); asked again at each poll while this node is still MASTER, up to the
  // confirm_timeout. Anything else is final for this stop.
  if (resigned.status().code() == absl::StatusCode::kUnavailable) {
    if (first) {
      emit(absl::StrCat("resign not sent yet (", resigned.status().message(),
                        "); asked again at each poll while this node is MASTER"),
           {{"resign", "waiting"}});
    }
    resign_pending_ = true;
    return;
  }
  resign_pending_ = false;
  emit(absl::StrCat("no resign (", resigned.status().message(),
                    "); the peer takes over at its Master_Down timer"),
       {{"resign", "skipped"}});
}

std::optional<HandoverReport> FailoverHandshake::Continue() {
  const config::FailoverConfig& config = *parts_.config;
  Clock* clock = parts_.clock;
  if (settled_at_.has_value()) {
    if (clock->Now() < *settled_at_) {
      next_step_at_ = *settled_at_;
      return std::nullopt;
    }
    report_.elapsed = clock->Now() - start_;
    return Signalled(confirmed_notes_);
  }
  // Due at the next poll_interval or at the deadline: poll either way (the last one decides).
  if (!poll_.confirmed) {
    poll_ = PollOnce();
    ++polls_;
  }
  if (resign_pending_) {
    // Only while this node still looks MASTER and the wait is not over: once the VIP moved (or
    // the state is unknown) a priority-0 advertisement could only confuse the new master.
    const bool still_master = poll_.observation.has_value() &&
                              poll_.observation->state == fingerprint::VrrpState::kMaster;
    if (!poll_.confirmed && still_master && clock->Now() < deadline_) {
      TryResign(/*first=*/false);
    } else {
      resign_pending_ = false;
    }
  }
  if (!poll_.confirmed && clock->Now() < deadline_) {
    next_step_at_ = std::min(clock->Now() + config.poll_interval, deadline_);
    return std::nullopt;
  }
  const absl::Duration waited = clock->Now() - start_;
  std::map<std::string, std::string> notes = {
      {"waited_ms", absl::StrCat(absl::ToInt64Milliseconds(waited))},
      {"polls", absl::StrCat(polls_)},
      {"confirmed", poll_.confirmed ? "true" : "false"}};
  if (poll_.observation) {
    notes["state"] = std::string(fingerprint::VrrpStateName(poll_.observation->state));
  }
  if (!poll_.confirmed) {
    report_.summary = absl::StrCat(
        "not confirmed within ", absl::FormatDuration(config.confirm_timeout), ": ",
        NotConfirmedReason(config::FailoverBackendName(config.backend), poll_.observation,
                           poll_.observe_error, poll_.confirm_error),
        "; stopping the task anyway");
    report_.elapsed = waited;
    return Signalled(std::move(notes));
  }
  report_.confirmed = true;
  // The one event Nomad shows for the hand-over: what moved, how fast, and what was done.
  report_.summary =
      absl::StrCat("handed over ", VipList(vips_before_), " in ", FormatElapsed(waited), " (state ",
                   before_state_, " → BACKUP; ", demoted_text_, resign_text_, ")");
  if (config.settle > absl::ZeroDuration()) {
    absl::StrAppend(&report_.summary, "; settled ", absl::FormatDuration(config.settle));
    settled_at_ = clock->Now() + config.settle;
    next_step_at_ = *settled_at_;
    confirmed_notes_ = std::move(notes);
    return std::nullopt;
  }
  report_.elapsed = clock->Now() - start_;
  return Signalled(std::move(notes));
}

HandoverReport FailoverHandshake::Signalled(std::map<std::string, std::string> notes) {
  Transition(HandoverPhase::kSignalled, report_.summary, std::move(notes));
  return report_;
}

}  // namespace carp_exec::failover
