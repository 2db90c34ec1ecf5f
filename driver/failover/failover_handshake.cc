#include "driver/failover/failover_handshake.h"

#include <utility>

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
  return options;
}

FailoverHandshake::FailoverHandshake(TaskRef task, Parts parts)
    : task_(std::move(task)), parts_(std::move(parts)) {}

void FailoverHandshake::EmitEvent(EventSink* sink, const TaskRef& task, absl::string_view phase,
                                  std::string message,
                                  std::map<std::string, std::string> annotations) {
  annotations["phase"] = std::string(phase);
  // The sink writes the log line (the service adapter's does); without one, log here so no
  // transition goes unrecorded.
  if (sink == nullptr) {
    log::Info("failover", message,
              {{"task_id", task.task_id}, {"alloc_id", task.alloc_id}, {"phase", phase}});
    return;
  }
  sink->Emit(FailoverEvent{task, std::move(message), std::move(annotations)});
}

void FailoverHandshake::Transition(HandoverPhase to, std::string message,
                                   std::map<std::string, std::string> annotations) {
  annotations["previous_phase"] = std::string(HandoverPhaseName(phase_));
  annotations["backend"] = std::string(config::FailoverBackendName(parts_.config->backend));
  phase_ = to;
  EmitEvent(parts_.sink, task_, HandoverPhaseName(to), std::move(message), std::move(annotations));
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
  const config::FailoverConfig& config = *parts_.config;
  const absl::string_view backend = config::FailoverBackendName(config.backend);
  Clock* clock = parts_.clock;
  const absl::Time start = clock->Now();
  HandoverReport report;

  // Opened before the demotion so the change it causes cannot slip past.
  std::unique_ptr<fingerprint::ChangeEventSource> events = open_events_ ? open_events_() : nullptr;
  absl::StatusOr<LedgerChange> change = demote();
  if (!change.ok()) {
    report.error = change.status();
    report.summary = absl::StrCat("cannot demote ", parts_.target, ": ", change.status().message(),
                                  "; stopping the task without a hand-over");
    Transition(HandoverPhase::kDemoting, report.summary, {{"error", "demote"}});
    Transition(HandoverPhase::kConfirming, "no confirmation: the demotion failed");
    Transition(HandoverPhase::kSignalled, "signalling the task");
    report.elapsed = clock->Now() - start;
    return report;
  }
  report.demoted = change->share_after > 0;
  std::map<std::string, std::string> demoted_notes = {{"share", absl::StrCat(change->share_after)}};
  if (change->count_before)
    demoted_notes["demote_count_before"] = absl::StrCat(*change->count_before);
  if (change->count_after) demoted_notes["demote_count_after"] = absl::StrCat(*change->count_after);
  Transition(HandoverPhase::kDemoting, DemotedText(parts_.target, *change), demoted_notes);

  Poll first = PollOnce();
  const std::string before_state =
      first.observation ? std::string(fingerprint::VrrpStateName(first.observation->state))
                        : "unknown";
  if (!MustWait(first.observation)) {
    report.confirmed = true;
    report.summary =
        absl::StrCat("state ", StateText(*first.observation), ": nothing to hand over, no wait");
    Transition(HandoverPhase::kConfirming, report.summary, {{"state", before_state}});
    report.elapsed = clock->Now() - start;
    Transition(HandoverPhase::kSignalled, "signalling the task",
               {{"waited_ms", "0"}, {"confirmed", "true"}});
    return report;
  }

  report.waited = true;
  const std::vector<std::string> vips_before =
      first.observation ? first.observation->vips_held : std::vector<std::string>();
  Transition(HandoverPhase::kConfirming,
             absl::StrCat("state ",
                          first.observation ? StateText(*first.observation)
                                            : absl::StrCat("unknown (", first.observe_error, ")"),
                          ": waiting up to ", absl::FormatDuration(config.confirm_timeout),
                          " for the peer to take over"),
             {{"state", before_state}});

  const absl::Time deadline = start + config.confirm_timeout;
  Poll poll = std::move(first);
  int polls = 1;
  while (!poll.confirmed && clock->Now() < deadline) {
    const absl::Duration pause = std::min(config.poll_interval, deadline - clock->Now());
    if (events != nullptr) {
      events->Wait(absl::Now() + pause);  // a change, or the poll's turn: look again
    } else {
      clock->SleepFor(pause);
    }
    poll = PollOnce();
    ++polls;
  }
  const absl::Duration waited = clock->Now() - start;
  std::map<std::string, std::string> notes = {
      {"waited_ms", absl::StrCat(absl::ToInt64Milliseconds(waited))},
      {"polls", absl::StrCat(polls)},
      {"confirmed", poll.confirmed ? "true" : "false"}};
  if (poll.observation) {
    notes["state"] = std::string(fingerprint::VrrpStateName(poll.observation->state));
  }

  if (!poll.confirmed) {
    report.summary = absl::StrCat(
        "not confirmed within ", absl::FormatDuration(config.confirm_timeout), ": ",
        NotConfirmedReason(backend, poll.observation, poll.observe_error, poll.confirm_error),
        "; stopping the task anyway");
    report.elapsed = waited;
    Transition(HandoverPhase::kSignalled, report.summary, notes);
    return report;
  }

  report.confirmed = true;
  std::string moved = vips_before.empty()
                          ? absl::StrCat(" after ", FormatElapsed(waited))
                          : absl::StrCat(", ", VipList(vips_before), " left this node after ",
                                         FormatElapsed(waited));
  report.summary = absl::StrCat("state ", before_state, " → BACKUP", moved);
  if (config.settle > absl::ZeroDuration()) {
    absl::StrAppend(&report.summary, "; settled ", absl::FormatDuration(config.settle));
    clock->SleepFor(config.settle);
  }
  report.elapsed = clock->Now() - start;
  Transition(HandoverPhase::kSignalled, report.summary, notes);
  return report;
}

void FailoverHandshake::TaskExited(absl::string_view how) {
  Transition(HandoverPhase::kExited, absl::StrCat("task ", how));
}

void FailoverHandshake::Held(absl::string_view why) {
  Transition(HandoverPhase::kHeld, std::string(why));
}

void FailoverHandshake::Restored(absl::string_view why) {
  Transition(HandoverPhase::kRestored, std::string(why));
}

}  // namespace carp_exec::failover
