#include "driver/tasks/signal_names.h"

#include <csignal>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace carp_exec::tasks {
namespace {

struct NamedSignal {
  const char* name;  // without the SIG prefix
  int number;
};

// The signals of this platform; names follow signal.h.
constexpr NamedSignal kSignals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},     {"IOT", SIGABRT},  {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"CHLD", SIGCHLD},     {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},         {"SYS", SIGSYS},
#ifdef SIGPWR
    {"PWR", SIGPWR},
#endif
#ifdef SIGSTKFLT
    {"STKFLT", SIGSTKFLT},
#endif
#ifdef SIGINFO
    {"INFO", SIGINFO},
#endif
#ifdef SIGEMT
    {"EMT", SIGEMT},
#endif
#ifdef SIGTHR
    {"THR", SIGTHR},
#endif
};

}  // namespace

absl::StatusOr<int> ParseSignalName(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(name);
  absl::string_view bare = upper;
  absl::ConsumePrefix(&bare, "SIG");
  for (const NamedSignal& s : kSignals) {
    if (bare == s.name) return s.number;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown signal \"", name,
                   "\"; use a signal name such as SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, "
                   "SIGUSR2 or SIGKILL"));
}

std::string SignalName(int signo) {
  for (const NamedSignal& s : kSignals) {
    if (s.number == signo) return absl::StrCat("SIG", s.name);
  }
  return absl::StrCat("signal ", signo);
}

}  // namespace carp_exec::tasks
