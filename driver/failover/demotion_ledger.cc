#include "driver/failover/demotion_ledger.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "driver/failover/atomic_file.h"

namespace carp_exec::failover {
namespace {

constexpr absl::string_view kHeader =
    "# carp_exec demotion ledger: our share of this node's demotion. Written by the plugin;\n"
    "# do not edit while it runs.\n";

absl::string_view OpName(LedgerIntent::Op op) {
  return op == LedgerIntent::Op::kDemote ? "demote" : "restore";
}

std::string CountText(std::optional<int> count) {
  return count.has_value() ? absl::StrCat(*count) : "unknown";
}

// Splits "key rest of line" at the first space.
std::pair<absl::string_view, absl::string_view> KeyValue(absl::string_view line) {
  size_t space = line.find(' ');
  if (space == absl::string_view::npos) return {line, ""};
  return {line.substr(0, space), line.substr(space + 1)};
}

bool ParseCount(absl::string_view text, std::optional<int>* count) {
  if (text == "unknown") {
    count->reset();
    return true;
  }
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) return false;
  *count = value;
  return true;
}

// "demote 50 count_before 0 share_before 0"
bool ParseIntent(absl::string_view text, LedgerIntent* intent) {
  std::vector<absl::string_view> words = absl::StrSplit(text, ' ', absl::SkipEmpty());
  if (words.size() != 6 || words[2] != "count_before" || words[4] != "share_before") return false;
  if (words[0] == "demote") {
    intent->op = LedgerIntent::Op::kDemote;
  } else if (words[0] == "restore") {
    intent->op = LedgerIntent::Op::kRestore;
  } else {
    return false;
  }
  return absl::SimpleAtoi(words[1], &intent->amount) && intent->amount > 0 &&
         ParseCount(words[3], &intent->count_before) &&
         absl::SimpleAtoi(words[5], &intent->share_before) && intent->share_before >= 0;
}

// Overwrites the existing file's first text.size() bytes and fsyncs: no new file, no new block.
absl::Status OverwriteInPlace(const std::string& path, absl::string_view text) {
  // O_NONBLOCK: a FIFO planted at the path must fail the checks below, never block the worker.
  const int fd = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
      static_cast<size_t>(st.st_size) < text.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a preallocated ledger of at least ", text.size(), " bytes"));
  }
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    return absl::InternalError(absl::StrCat("cannot fsync ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsBootToken(absl::string_view id) {
  return id.size() == 32 && absl::c_all_of(id, [](char c) {
           return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

std::string FormatLedger(const LedgerRecord& record) {
  std::string text(kHeader.data(), kHeader.size());
  absl::StrAppend(&text, "version 1\n", "backend ", record.backend, "\n", "target ", record.target,
                  "\n", "boot ", record.boot_id, "\n", "share ", record.share, "\n");
  if (record.intent.has_value()) {
    const LedgerIntent& intent = *record.intent;
    absl::StrAppend(&text, "intent ", OpName(intent.op), " ", intent.amount, " count_before ",
                    CountText(intent.count_before), " share_before ", intent.share_before, "\n");
  }
  absl::StrAppend(&text, "end\n");
  // Blank lines are ignored by the parser: padding makes the file a fixed-size record.
  if (text.size() < kLedgerFileSize) text.append(kLedgerFileSize - text.size(), '\n');
  return text;
}

absl::StatusOr<LedgerRecord> ParseLedger(absl::string_view text) {
  LedgerRecord record;
  bool saw_version = false, saw_share = false, saw_end = false;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    auto bad = [&](absl::string_view why) {
      return absl::DataLossError(absl::StrCat("line ", line_number, " \"", line, "\": ", why));
    };
    if (saw_end) return bad("text after \"end\"");
    auto [key, value] = KeyValue(line);
    if (key == "version") {
      if (value != "1") return bad("unsupported version (this plugin writes version 1)");
      saw_version = true;
    } else if (key == "backend") {
      record.backend = std::string(value);
    } else if (key == "target") {
      record.target = std::string(value);
    } else if (key == "boot") {
      record.boot_id = std::string(value);
    } else if (key == "share") {
      if (!absl::SimpleAtoi(value, &record.share) || record.share < 0) {
        return bad("share must be a number >= 0");
      }
      saw_share = true;
    } else if (key == "intent") {
      LedgerIntent intent;
      if (!ParseIntent(value, &intent)) {
        return bad("expected \"intent demote|restore N count_before C|unknown share_before S\"");
      }
      record.intent = intent;
    } else if (key == "end") {
      saw_end = true;
    } else {
      return bad("unknown key");
    }
  }
  // "end" proves the file was written whole (rename makes a torn write impossible, but a file
  // truncated by something else must not read as "share 0").
  if (!saw_version || !saw_share || !saw_end || record.backend.empty()) {
    return absl::DataLossError("incomplete: needs version, backend, share and end lines");
  }
  return record;
}

DemotionLedger::DemotionLedger(std::string path, DemotionBackend* backend, std::string boot_id,
                               LedgerInterrupt interrupt, LedgerDiskFull disk_full)
    : path_(std::move(path)),
      backend_(backend),
      boot_id_(std::move(boot_id)),
      interrupt_(std::move(interrupt)),
      disk_full_(std::move(disk_full)) {
  record_.backend = std::string(backend_->Name());
  record_.target = backend_->Target();
  record_.boot_id = boot_id_;
}

absl::Status DemotionLedger::Step(absl::string_view name) {
  if (interrupt_ && !interrupt_(name)) {
    return absl::AbortedError(absl::StrCat("ledger ", path_, ": stopped before step ", name));
  }
  return absl::OkStatus();
}

absl::Status DemotionLedger::Save(absl::string_view phase) {
  AtomicWriteInterrupt write_interrupt = nullptr;
  if (interrupt_) {
    write_interrupt = [this, phase](AtomicWriteStep step) {
      absl::string_view name = step == AtomicWriteStep::kWriteTemp ? "write-temp"
                               : step == AtomicWriteStep::kRename  ? "rename"
                                                                   : "sync-dir";
      return interrupt_(absl::StrCat(phase, ":", name));
    };
  }
  const std::string text = FormatLedger(record_);
  absl::Status written = disk_full_ && disk_full_(absl::StrCat(phase, ":write"))
                             ? absl::ResourceExhaustedError(absl::StrCat(
                                   "cannot write ", path_, ".tmp: No space left on device"))
                             : WriteFileAtomically(path_, text, 0600, write_interrupt);
  // Only a full disk or quota (ENOSPC/EDQUOT map to ResourceExhausted) earns the in-place
  // fallback; any other failure (a FIFO or symlink planted at the ledger) stays an error.
  if (written.ok() || !absl::IsResourceExhausted(written)) return written;
  // No room for a new file: overwrite the preallocated one in place (same size, no new block
  // on the BSDs' UFS or ext4; a copy-on-write filesystem may still refuse).
  if (absl::Status s = Step(absl::StrCat(phase, ":in-place")); !s.ok()) return s;
  absl::Status in_place = disk_full_ && disk_full_(absl::StrCat(phase, ":in-place"))
                              ? absl::ResourceExhaustedError(absl::StrCat(
                                    "cannot overwrite ", path_, ": No space left on device"))
                              : OverwriteInPlace(path_, text);
  if (in_place.ok()) return absl::OkStatus();
  return absl::Status(written.code(),
                      absl::StrCat(written.message(), "; in place: ", in_place.message()));
}

absl::StatusOr<std::optional<int>> DemotionLedger::Observe() {
  if (backend_->Kind() == CounterKind::kUnknowable) return std::optional<int>();
  absl::StatusOr<std::optional<int>> count = backend_->CurrentCount();
  if (!count.ok()) {
    return absl::Status(count.status().code(),
                        absl::StrCat("cannot read the demotion of ", backend_->Target(), ": ",
                                     count.status().message()));
  }
  return count;
}

absl::StatusOr<ReconcileReport> DemotionLedger::Reconcile() {
  ReconcileReport report;
  absl::StatusOr<std::optional<std::string>> text = ReadFileIfExists(path_);
  if (!text.ok()) return text.status();
  if (text->has_value()) {
    report.had_file = true;
    absl::StatusOr<LedgerRecord> parsed = ParseLedger(**text);
    if (!parsed.ok()) {
      return absl::DataLossError(
          absl::StrCat("demotion ledger ", path_, " is corrupt (", parsed.status().message(),
                       "); carp_exec will not guess its share of the demotion. Check the counter (",
                       backend_->Name(), " ", backend_->Target(),
                       "), undo carp_exec's share by hand if it is applied, then delete the file"));
    }
    const bool same_place =
        parsed->backend == backend_->Name() && parsed->target == backend_->Target();
    if (!same_place && (parsed->share > 0 || parsed->intent.has_value())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "demotion ledger ", path_, " records our share ", parsed->share, " on ", parsed->backend,
          " ", parsed->target, ", but failover is now configured for ", backend_->Name(), " ",
          backend_->Target(),
          "; undo that share by hand (or restore the old setting) and delete the file"));
    }
    if (same_place) record_ = *parsed;
  }
  // A kernel counter does not survive a reboot: nothing recorded before it is applied now.
  // A ledger written by a version that named the boot by kern.boottime (not a token) cannot
  // tell a reboot from an upgrade: then only the counter decides (SettleIntent, the clamp).
  const bool comparable_boot = !IsBootToken(boot_id_) || IsBootToken(record_.boot_id);
  if (!comparable_boot && (record_.share > 0 || record_.intent.has_value())) {
    report.notes.push_back(absl::StrCat("the ledger names its boot the old way (\"",
                                        record_.boot_id, "\"); keeping our share ", record_.share,
                                        " unless the counter shows it is gone"));
  }
  if (backend_->Kind() == CounterKind::kSharedCounter && comparable_boot &&
      !record_.boot_id.empty() && !boot_id_.empty() && record_.boot_id != boot_id_ &&
      (record_.share > 0 || record_.intent.has_value())) {
    report.notes.push_back(
        absl::StrCat("the node rebooted since the ledger was written; our share ", record_.share,
                     " did not survive it"));
    record_.share = 0;
    record_.intent.reset();
  }
  record_.backend = std::string(backend_->Name());
  record_.target = backend_->Target();
  record_.boot_id = boot_id_;

  if (backend_->Kind() == CounterKind::kUnknowable && record_.intent.has_value()) {
    if (absl::Status s = RollForward(&report.notes); !s.ok()) return s;
  }
  absl::StatusOr<std::optional<int>> count = Observe();
  if (!count.ok()) return count.status();
  report.count = *count;
  SettleIntent(*count, &report.notes);
  if (absl::Status s = Save("record"); !s.ok()) return s;
  reconciled_ = true;
  report.share = record_.share;
  return report;
}

absl::Status DemotionLedger::RollForward(std::vector<std::string>* notes) {
  // Whether the interrupted command took effect cannot be observed. The commands are
  // idempotent by contract, so running it again makes the outcome certain either way; if this
  // is interrupted too, the intent is still on disk and the next start runs it again.
  const LedgerIntent intent = *record_.intent;
  absl::Status s = intent.op == LedgerIntent::Op::kDemote ? backend_->Demote(intent.amount)
                                                          : backend_->Restore(intent.amount);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("ledger ", path_, ": re-running the interrupted ",
                                               OpName(intent.op), " failed: ", s.message()));
  }
  record_.share = intent.op == LedgerIntent::Op::kDemote ? intent.share_before + intent.amount
                                                         : intent.share_before - intent.amount;
  record_.intent.reset();
  notes->push_back(absl::StrCat("re-ran the interrupted ", OpName(intent.op),
                                " command (the command backend cannot be observed); our share is ",
                                record_.share));
  return absl::OkStatus();
}

void DemotionLedger::SettleIntent(std::optional<int> count_now, std::vector<std::string>* notes) {
  switch (backend_->Kind()) {
    case CounterKind::kOwnedValue:
      // The value is ours alone: whatever it says is our share.
      if (count_now.has_value() && *count_now != record_.share) {
        notes->push_back(absl::StrCat(backend_->Target(), " holds ", *count_now,
                                      "; taking that as our share (ledger said ", record_.share,
                                      ")"));
      }
      record_.share = count_now.value_or(record_.share);
      break;
    case CounterKind::kUnknowable:
      // Reconcile rolls a leftover intent forward before calling this; here it is settled.
      break;
    case CounterKind::kSharedCounter:
      if (record_.intent.has_value() && count_now.has_value() &&
          record_.intent->count_before.has_value()) {
        const LedgerIntent& intent = *record_.intent;
        const int before = *intent.count_before;
        const int expected = intent.op == LedgerIntent::Op::kDemote ? before + intent.amount
                                                                    : before - intent.amount;
        // Nearest match: the change took effect if the counter is at least as close to where
        // it would be with it as to where it was before. Others' changes inside the window
        // smaller than half our step cannot flip the answer.
        const bool took_effect = std::abs(*count_now - expected) <= std::abs(*count_now - before);
        record_.share = took_effect ? (intent.op == LedgerIntent::Op::kDemote
                                           ? intent.share_before + intent.amount
                                           : intent.share_before - intent.amount)
                                    : intent.share_before;
        notes->push_back(absl::StrCat("an interrupted ", OpName(intent.op), " of ", intent.amount,
                                      took_effect ? " had taken effect" : " had not taken effect",
                                      " (count ", before, " → ", *count_now, "); our share is ",
                                      record_.share));
      }
      // We never take back more than the counter holds.
      if (count_now.has_value() && record_.share > *count_now) {
        notes->push_back(absl::StrCat("the counter (", *count_now, ") is below our share (",
                                      record_.share,
                                      "): someone took part of it back; our share "
                                      "is now ",
                                      *count_now));
        record_.share = *count_now < 0 ? 0 : *count_now;
      }
      break;
  }
  record_.intent.reset();
}

absl::Status DemotionLedger::ApplyStep(LedgerIntent::Op op, int amount, LedgerChange* change) {
  if (absl::Status s = Step("observe"); !s.ok()) return s;
  absl::StatusOr<std::optional<int>> before = Observe();
  if (!before.ok()) return before.status();
  if (!change->count_before.has_value()) change->count_before = *before;
  if (op == LedgerIntent::Op::kRestore && backend_->Kind() == CounterKind::kSharedCounter &&
      before->has_value() && **before < amount) {
    // Part of our share is already gone (taken back by hand); settle instead of underflowing.
    std::vector<std::string> notes;
    SettleIntent(*before, &notes);
    if (absl::Status s = Save("record"); !s.ok()) return s;
    change->count_after = *before;
    return absl::OkStatus();
  }
  record_.intent = LedgerIntent{op, amount, *before, record_.share};
  if (absl::Status s = Save("intent"); !s.ok()) {
    // A crash, or a restore (skipping it keeps the node demoted: the safe side): stop here.
    if (absl::IsAborted(s) || op != LedgerIntent::Op::kDemote) {
      if (!absl::IsAborted(s)) record_.intent.reset();
      return s;
    }
    // Never skip a demotion for want of disk: apply it, keep the intent in memory.
    change->unrecorded = absl::StrCat("the intent record: ", s.message());
  }
  if (absl::Status s = Step("apply"); !s.ok()) return s;
  absl::Status applied =
      op == LedgerIntent::Op::kDemote ? backend_->Demote(amount) : backend_->Restore(amount);
  if (absl::Status s = Step("record"); !s.ok()) return s;
  if (!applied.ok()) {
    // A failed command normally changed nothing, but settle against the counter to be sure.
    absl::StatusOr<std::optional<int>> after = Observe();
    std::vector<std::string> notes;
    if (after.ok() && backend_->Kind() != CounterKind::kUnknowable) {
      SettleIntent(*after, &notes);
    } else {
      record_.share = record_.intent->share_before;  // a failed command did not happen
      record_.intent.reset();
    }
    if (absl::Status s = Save("record"); !s.ok()) return s;
    return applied;
  }
  record_.share += op == LedgerIntent::Op::kDemote ? amount : -amount;
  record_.intent.reset();
  if (absl::Status s = Save("record"); !s.ok()) {
    if (absl::IsAborted(s)) return s;
    // Applied, but not recorded: memory holds the truth; the next successful write stores it.
    absl::StrAppend(&change->unrecorded, change->unrecorded.empty() ? "" : "; ",
                    "the result record: ", s.message());
  }
  change->changed = true;
  // For the event text only; a failure here changes nothing that was done.
  absl::StatusOr<std::optional<int>> after = Observe();
  if (after.ok()) change->count_after = *after;
  return absl::OkStatus();
}

absl::StatusOr<LedgerChange> DemotionLedger::Demote(int share) {
  if (!reconciled_) {
    return absl::FailedPreconditionError(
        absl::StrCat("ledger ", path_, " used before Reconcile succeeded"));
  }
  LedgerChange change;
  change.share_before = record_.share;
  while (record_.share < share) {
    int step = std::min(backend_->MaxStep(), share - record_.share);
    if (absl::Status s = ApplyStep(LedgerIntent::Op::kDemote, step, &change); !s.ok()) return s;
  }
  change.share_after = record_.share;
  return change;
}

absl::StatusOr<LedgerChange> DemotionLedger::Restore() {
  if (!reconciled_) {
    return absl::FailedPreconditionError(
        absl::StrCat("ledger ", path_, " used before Reconcile succeeded"));
  }
  LedgerChange change;
  change.share_before = record_.share;
  while (record_.share > 0) {
    int step = std::min(backend_->MaxStep(), record_.share);
    int share_before_step = record_.share;
    if (absl::Status s = ApplyStep(LedgerIntent::Op::kRestore, step, &change); !s.ok()) return s;
    if (record_.share == share_before_step) break;  // nothing left to take back
  }
  change.share_after = record_.share;
  if (change.share_after != change.share_before) change.changed = true;
  return change;
}

}  // namespace carp_exec::failover
