#pragma once
// Backends that act: they raise and lower this node's demotion on one kind of redundancy
// daemon. They never decide when; the DemotionLedger calls them and keeps account of our share,
// and the fingerprint's NodeObserver confirms what happened.
//
// Every backend runs its tools through fingerprint::CommandRunner with paths from the plugin
// config, so tests point them at tests/fakes/.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fingerprint/command_runner.h"

namespace carp_exec::failover {

// How the value CurrentCount() returns relates to our share. The ledger reconciles differently
// for each.
enum class CounterKind {
  // A counter shared with others that we change by relative amounts (OpenBSD group demote
  // counter, FreeBSD net.inet.carp.demotion). It is kernel memory: a reboot resets it.
  kSharedCounter,
  // A value only we write, so it *is* our share (keepalived track_file).
  kOwnedValue,
  // Nothing is observable (command backend): the ledger alone remembers.
  kUnknowable,
};

class DemotionBackend {
 public:
  virtual ~DemotionBackend() = default;

  // "openbsd-carp", "freebsd-carp", "keepalived", "command".
  virtual absl::string_view Name() const = 0;
  // What our share lives in, for messages and for the ledger's identity check:
  // "group carp", "net.inet.carp.demotion", "track_file /etc/keepalived/demote", "demote_command".
  virtual std::string Target() const = 0;
  virtual CounterKind Kind() const = 0;
  // The most one Demote/Restore call may change (OpenBSD: 128 per ifconfig command). The ledger
  // splits larger shares into steps, each with its own intent record.
  virtual int MaxStep() const = 0;

  // Adds `amount` (1..MaxStep()) to this node's demotion.
  virtual absl::Status Demote(int amount) = 0;
  // Takes `amount` (1..MaxStep()) back. For kOwnedValue backends the value becomes 0.
  virtual absl::Status Restore(int amount) = 0;
  // The counter as the system reports it now, or nullopt for kUnknowable backends.
  virtual absl::StatusOr<std::optional<int>> CurrentCount() = 0;
  // OK when the backend can act on this node; otherwise an error that names the broken piece
  // and the fix ("ifconfig_path /sbin/ifconfig: no such file", "group edge does not exist: ...").
  virtual absl::Status CheckUsable() = 0;
};

// Each backend command gets this long before it is killed and reported as failed.
inline constexpr absl::Duration kBackendCommandTimeout = absl::Seconds(10);

// `ifconfig -g GROUP carpdemote N` / `ifconfig -g GROUP -carpdemote N`; count from
// `ifconfig -g GROUP` (fingerprint/carp_tools.h); with `in_kernel`, SIOCGIFGATTR/SIOCSIFGATTR
// in-process instead (fingerprint/carp_kernel.h, OpenBSD builds). CheckUsable also refuses
// observed `interfaces` (all members of GROUP when empty) that are not in GROUP.
std::unique_ptr<DemotionBackend> MakeOpenBsdCarpBackend(std::string ifconfig_path,
                                                        std::string group,
                                                        fingerprint::CommandRunner* runner,
                                                        std::vector<std::string> interfaces = {},
                                                        bool in_kernel = false);

// `sysctl net.inet.carp.demotion=N` / `=-N` (writing the sysctl adds the written value); count
// from `sysctl -n net.inet.carp.demotion`; with `in_kernel`, sysctlbyname in-process instead
// (FreeBSD builds). CheckUsable also refuses net.inet.carp.preempt=0 and an observed vhid
// (`interfaces`, all carp interfaces when empty) with advskew >= 240.
std::unique_ptr<DemotionBackend> MakeFreeBsdCarpBackend(
    std::string sysctl_path, fingerprint::CommandRunner* runner,
    std::string ifconfig_path = "/sbin/ifconfig", std::vector<std::string> interfaces = {},
    bool in_kernel = false);

// Writes the demotion into keepalived's track_file (atomically; keepalived watches it with
// inotify and, with weight -1, lowers the priority by the value). Restore writes 0.
std::unique_ptr<DemotionBackend> MakeKeepalivedBackend(std::string track_file);

// Runs the user's demote_command / restore_command; a non-zero exit is an error carrying
// stderr. The commands must be idempotent ("set demoted", not "add 50"): after a crash in the
// middle of one, the ledger may run it again because it cannot observe whether it took effect.
std::unique_ptr<DemotionBackend> MakeCommandBackend(std::vector<std::string> demote_command,
                                                    std::vector<std::string> restore_command,
                                                    fingerprint::CommandRunner* runner);

}  // namespace carp_exec::failover
