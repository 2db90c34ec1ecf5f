#pragma once
// The demotion ledger: our applied share of this node's demotion, kept on disk so that a plugin
// killed at any moment neither applies its share twice, nor takes back someone else's share
// (/etc/rc's 128 while booting, relayd, carpdev link-down demotions), nor leaves the node
// demoted for ever.
//
// Every change is bracketed by two durable records (write temp, fsync, rename, fsync dir; when
// the disk is full, an fsynced overwrite in place of the preallocated file instead):
//   1. the intent: "about to demote|restore N; the counter was C; our share was S";
//   2. the result: "our share is now S±N", intent cleared.
// Reconcile() settles a leftover intent by comparing the backend's counter now with C:
// it took effect iff the counter now is at least as close to C±N as to C. Changes by others
// inside that window (between our intent record and our death) smaller than N/2 cannot mislead
// this; larger ones can, so give carp_exec a dedicated CARP group where nobody else acts. The
// ledger also records the boot identity: a kernel counter does not survive a reboot, so a share
// recorded before the reboot is no longer applied and is never "restored" from someone else's.
// Per backend kind (see CounterKind):
//   kSharedCounter: as above; a share larger than the counter is clamped to the counter (someone
//                   ran -carpdemote by hand; we never take back more than is there).
//   kOwnedValue:    the value is ours alone, so after any crash our share is simply the value.
//   kUnknowable:    a leftover intent is rolled forward: its (idempotent by contract) command
//                   runs again, so the outcome is known.
//
// Not thread-safe: the coordinator's single worker thread owns it.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "driver/failover/demotion_backend.h"

namespace carp_exec::failover {

// Called before each step of a change with the step's name: "observe", "intent:write-temp",
// "intent:rename", "intent:sync-dir", "intent:in-place", "apply", "record:write-temp",
// "record:rename", "record:sync-dir", "record:in-place" (the in-place steps only when the disk
// refused the normal write). Returning false stops right there with AbortedError and no
// clean-up, which is what a SIGKILL does; crash tests count calls to stop at every boundary.
using LedgerInterrupt = std::function<bool(absl::string_view step)>;

// For tests: returns true to make a write fail as a full disk does (ENOSPC). Asked with
// "intent:write" / "record:write" before the normal (temp file + rename) write, and with
// "intent:in-place" / "record:in-place" before the in-place fallback.
using LedgerDiskFull = std::function<bool(absl::string_view write)>;

// Every ledger file is padded to this size, so that once written it is a preallocated,
// fixed-size record that can be overwritten in place when the disk is full. The meaningful text
// (well under 512 bytes) lies in the first sector, which a disk writes whole.
inline constexpr size_t kLedgerFileSize = 1024;

// One pending change, as written in the intent record.
struct LedgerIntent {
  enum class Op { kDemote, kRestore };
  Op op = Op::kDemote;
  int amount = 0;
  std::optional<int> count_before;  // nullopt for kUnknowable backends
  int share_before = 0;
};

// The file's contents.
struct LedgerRecord {
  std::string backend;  // DemotionBackend::Name()
  std::string target;   // DemotionBackend::Target()
  std::string boot_id;  // empty = unknown
  int share = 0;
  std::optional<LedgerIntent> intent;
};

// Parses / formats the ledger file. Parse errors quote the offending line.
absl::StatusOr<LedgerRecord> ParseLedger(absl::string_view text);
std::string FormatLedger(const LedgerRecord& record);

// True for the boot token of tasks::CurrentBootToken on the BSDs (32 lower-case hex digits).
// Ledgers written before it named the boot by `sysctl -n kern.boottime`; such an id is never
// compared with a token (an upgrade is not a reboot).
bool IsBootToken(absl::string_view id);

// What one Demote/Restore did. `changed` is false when our share already was what was asked.
// `unrecorded` is set when a demotion was applied although the disk refused its records
// (see Demote); it says what failed.
struct LedgerChange {
  std::string unrecorded;
  bool changed = false;
  int share_before = 0;
  int share_after = 0;
  std::optional<int> count_before;  // the backend's counter, when knowable
  std::optional<int> count_after;
};

// What Reconcile found. `notes` are sentences for the log ("a demote of 50 was interrupted and
// had taken effect (count 0 → 50); our share is 50").
struct ReconcileReport {
  int share = 0;
  std::optional<int> count;
  bool had_file = false;
  std::vector<std::string> notes;
};

class DemotionLedger {
 public:
  // `path` is <state_dir>/failover/ledger (its directory must exist). `backend` must outlive the
  // ledger. `boot_id` identifies the running kernel (empty = unknown, then reboots are only
  // detected by a counter smaller than our share).
  DemotionLedger(std::string path, DemotionBackend* backend, std::string boot_id,
                 LedgerInterrupt interrupt = nullptr, LedgerDiskFull disk_full = nullptr);
  DemotionLedger(const DemotionLedger&) = delete;
  DemotionLedger& operator=(const DemotionLedger&) = delete;

  // Reads the file, settles a leftover intent against the backend, and writes the settled
  // record. Must succeed before Demote/Restore. Errors: a corrupt file (the message names the
  // file, the line and the fix; the file is left as it is), a file that records a share on
  // another backend/target than the configured one, or a backend that cannot report its
  // counter while an intent is pending.
  absl::StatusOr<ReconcileReport> Reconcile();

  // Brings our share up to `share` (no-op if it already is at least that), in steps of at most
  // backend->MaxStep(), each step bracketed by intent and result records. If the backend fails,
  // the step is settled against the counter (so the file never keeps a stale intent for a
  // failure we saw) and the backend's error is returned.
  // A demotion is never skipped for want of disk: when neither the normal write nor the
  // in-place overwrite of a record succeeds, the step is applied anyway, the ledger keeps the
  // truth in memory (the next successful write stores it) and the change says `unrecorded`.
  // Until then a plugin crash leaves a file that does not know our share: the next start sees
  // the counter's extra amount as someone else's, and the node stays demoted until an operator
  // takes it back (the caller's event says how).
  absl::StatusOr<LedgerChange> Demote(int share);
  // Brings our share down to 0 the same way.
  absl::StatusOr<LedgerChange> Restore();

  int share() const { return record_.share; }
  bool reconciled() const { return reconciled_; }
  const std::string& path() const { return path_; }

 private:
  absl::Status Step(absl::string_view name);
  absl::Status Save(absl::string_view phase);  // phase: "intent" | "record"
  absl::StatusOr<std::optional<int>> Observe();
  // Decides whether record_.intent took effect, given the counter now; clears the intent.
  void SettleIntent(std::optional<int> count_now, std::vector<std::string>* notes);
  absl::Status RollForward(std::vector<std::string>* notes);
  absl::Status ApplyStep(LedgerIntent::Op op, int amount, LedgerChange* change);

  std::string path_;
  DemotionBackend* backend_;
  std::string boot_id_;
  LedgerInterrupt interrupt_;
  LedgerDiskFull disk_full_;
  LedgerRecord record_;
  bool reconciled_ = false;
};

}  // namespace carp_exec::failover
