// NodeObserver for the "command" backend: a user command prints the state. There is no address
// check of our own here, so holds_vip follows the state (see node_observer.h).

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fingerprint/observer_backends.h"
#include "fingerprint/parse_text.h"

namespace carp_exec::fingerprint {
namespace {

class CommandObserver final : public NodeObserver {
 public:
  CommandObserver(ObserverOptions options, CommandRunner* runner)
      : options_(std::move(options)), runner_(runner) {}

  absl::StatusOr<Observation> Observe() override {
    absl::StatusOr<std::string> out =
        RunForOutput(runner_, options_.state_command, options_.command_timeout,
                     "fix state_command (it must print MASTER, BACKUP, INIT or FAULT)");
    if (!out.ok()) return out.status();
    std::optional<VrrpState> state;
    int number = 0;
    for (absl::string_view line : SplitLines(*out)) {
      ++number;
      std::vector<absl::string_view> words = SplitWords(line);
      if (words.empty()) continue;
      state = ParseVrrpStateWord(words[0]);
      if (!state) {
        return absl::FailedPreconditionError(absl::StrCat(
            "failover: state_command `", absl::StrJoin(options_.state_command, " "), "` printed ",
            LineRef(number, line), "; its first word must be MASTER, BACKUP, INIT or FAULT"));
      }
      break;
    }
    if (!state) {
      return absl::FailedPreconditionError(
          absl::StrCat("failover: state_command `", absl::StrJoin(options_.state_command, " "),
                       "` printed nothing; it must print MASTER, BACKUP, INIT or FAULT"));
    }
    Observation observation;
    observation.state = *state;
    if (*state == VrrpState::kMaster) observation.vips_held = options_.vips;
    observation.holds_vip = *state == VrrpState::kMaster;
    observation.detail = absl::StrCat("state_command says ", VrrpStateName(*state));
    if (!options_.vips.empty()) {
      absl::StrAppend(&observation.detail, "; ", DescribeVips(options_.vips, observation.vips_held),
                      " (assumed from state)");
    }
    return observation;
  }

  absl::Status CheckUsable() override {
    absl::Status tool = CheckTool(runner_, "state_command", options_.state_command[0],
                                  "an executable that prints the VRRP/CARP state");
    if (!tool.ok()) return tool;
    return Observe().status();
  }

 private:
  const ObserverOptions options_;
  CommandRunner* const runner_;
};

}  // namespace

std::unique_ptr<NodeObserver> MakeCommandObserver(ObserverOptions options, CommandRunner* runner) {
  return std::make_unique<CommandObserver>(std::move(options), runner);
}

}  // namespace carp_exec::fingerprint
