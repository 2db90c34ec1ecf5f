#include "driver/failover/demotion_ledger.h"

#include <fstream>
#include <sstream>

#include "driver/failover/atomic_file.h"
#include "driver/failover/fake_demotion_backend.h"
#include "driver/failover/temp_dir_for_test.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class DemotionLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }
  std::string LedgerPath() const { return dir_.path() + "/ledger"; }

  TempDirForTest dir_;
  FakeDemotionBackend backend_;
};

TEST(LedgerFormatTest, RoundTripsWithAndWithoutIntent) {
  LedgerRecord record{"openbsd-carp", "group edge", "boot-1", 50, std::nullopt};
  absl::StatusOr<LedgerRecord> parsed = ParseLedger(FormatLedger(record));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->backend, "openbsd-carp");
  EXPECT_EQ(parsed->target, "group edge");
  EXPECT_EQ(parsed->boot_id, "boot-1");
  EXPECT_EQ(parsed->share, 50);
  EXPECT_FALSE(parsed->intent.has_value());

  record.intent = LedgerIntent{LedgerIntent::Op::kRestore, 50, std::nullopt, 50};
  parsed = ParseLedger(FormatLedger(record));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_TRUE(parsed->intent.has_value());
  EXPECT_EQ(parsed->intent->op, LedgerIntent::Op::kRestore);
  EXPECT_EQ(parsed->intent->amount, 50);
  EXPECT_FALSE(parsed->intent->count_before.has_value());
  EXPECT_EQ(parsed->intent->share_before, 50);
}

TEST(LedgerFormatTest, RejectsDamageWithTheLine) {
  EXPECT_FALSE(ParseLedger("").ok());
  // Truncated: no "end" line must never read as share 0.
  EXPECT_FALSE(ParseLedger("version 1\nbackend fake\nshare 0\n").ok());
  absl::StatusOr<LedgerRecord> bad = ParseLedger("version 1\nbackend fake\nshare fifty\nend\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 3 \"share fifty\""), std::string::npos)
      << bad.status();
  EXPECT_FALSE(ParseLedger("version 2\nbackend fake\nshare 0\nend\n").ok());
  EXPECT_FALSE(ParseLedger("version 1\nbackend fake\nshare 0\nintent jump 5\nend\n").ok());
  EXPECT_FALSE(ParseLedger("version 1\nbackend fake\nshare -3\nend\n").ok());
}

TEST(LedgerFormatTest, HostileInputNeverCrashesAndNeverReadsAsAShare) {
  const std::string valid = FormatLedger(LedgerRecord{"fake", "group fake", "b", 50, std::nullopt});
  uint32_t seed = 12345;
  auto next = [&seed] { return seed = seed * 1103515245u + 12345u; };
  for (int round = 0; round < 2000; ++round) {
    std::string text = valid;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = next() % text.size();
      switch (next() % 3) {
        case 0:
          text[at] = static_cast<char>(next() & 0xff);
          break;
        case 1:
          text.erase(at, 1 + next() % 8);
          break;
        default:
          text.insert(at, 1, static_cast<char>(next() & 0xff));
          break;
      }
      if (text.empty()) text.push_back('x');  // g++ 12's -Wrestrict misreads text = "x"
    }
    absl::StatusOr<LedgerRecord> parsed = ParseLedger(text);
    // Damage either fails loudly or still says something well-formed.
    if (parsed.ok()) {
      EXPECT_GE(parsed->share, 0);
    }
  }
  // Cut anywhere before "end": never a silent "share 0".
  const size_t end_line = valid.find("end\n");
  ASSERT_NE(end_line, std::string::npos);
  EXPECT_EQ(valid.size(), kLedgerFileSize) << "padded to a fixed-size record";
  for (size_t cut = 0; cut < end_line + 2; ++cut) {
    EXPECT_FALSE(ParseLedger(valid.substr(0, cut)).ok()) << cut;
  }
}

TEST_F(DemotionLedgerTest, FreshNodeDemotesAndRestoresOnce) {
  DemotionLedger ledger(LedgerPath(), &backend_, "boot-1");
  absl::StatusOr<ReconcileReport> report = ledger.Reconcile();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->had_file);
  EXPECT_EQ(report->share, 0);

  absl::StatusOr<LedgerChange> change = ledger.Demote(50);
  ASSERT_TRUE(change.ok()) << change.status();
  EXPECT_TRUE(change->changed);
  EXPECT_EQ(change->count_before, 0);
  EXPECT_EQ(change->count_after, 50);
  EXPECT_EQ(backend_.counter(), 50);
  EXPECT_NE(ReadAll(LedgerPath()).find("share 50\n"), std::string::npos);

  // Idempotent: a second stop does not demote again.
  change = ledger.Demote(50);
  ASSERT_TRUE(change.ok());
  EXPECT_FALSE(change->changed);
  EXPECT_EQ(backend_.demote_calls(), 1);

  change = ledger.Restore();
  ASSERT_TRUE(change.ok()) << change.status();
  EXPECT_TRUE(change->changed);
  EXPECT_EQ(backend_.counter(), 0);
  change = ledger.Restore();
  ASSERT_TRUE(change.ok());
  EXPECT_FALSE(change->changed);
  EXPECT_EQ(backend_.restore_calls(), 1);
}

TEST_F(DemotionLedgerTest, OthersSharesAreNeverTouched) {
  backend_.OtherUserAdds(128);  // /etc/rc while booting
  DemotionLedger ledger(LedgerPath(), &backend_, "boot-1");
  ASSERT_TRUE(ledger.Reconcile().ok());
  EXPECT_EQ(ledger.share(), 0);
  ASSERT_TRUE(ledger.Demote(50).ok());
  EXPECT_EQ(backend_.counter(), 178);
  backend_.OtherUserAdds(1);  // a carpdev link flap
  ASSERT_TRUE(ledger.Restore().ok());
  EXPECT_EQ(backend_.counter(), 129);
}

TEST_F(DemotionLedgerTest, ShareSurvivesRestartOfThePlugin) {
  {
    DemotionLedger first(LedgerPath(), &backend_, "boot-1");
    ASSERT_TRUE(first.Reconcile().ok());
    ASSERT_TRUE(first.Demote(50).ok());
  }
  DemotionLedger second(LedgerPath(), &backend_, "boot-1");
  absl::StatusOr<ReconcileReport> report = second.Reconcile();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->share, 50);
  ASSERT_TRUE(second.Demote(50).ok());
  EXPECT_EQ(backend_.counter(), 50);  // not applied twice
}

TEST_F(DemotionLedgerTest, RebootForgetsTheShareAndLeavesRcsDemotionAlone) {
  {
    DemotionLedger before_reboot(LedgerPath(), &backend_, "boot-1");
    ASSERT_TRUE(before_reboot.Reconcile().ok());
    ASSERT_TRUE(before_reboot.Demote(50).ok());
  }
  backend_.Reset();
  backend_.OtherUserAdds(128);  // rc's boot-time demotion is in place when Nomad starts
  DemotionLedger after_reboot(LedgerPath(), &backend_, "boot-2");
  absl::StatusOr<ReconcileReport> report = after_reboot.Reconcile();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->share, 0);
  ASSERT_TRUE(after_reboot.Restore().ok());
  EXPECT_EQ(backend_.counter(), 128);
}

// An upgrade from a version that named the boot by kern.boottime (BSD) is not a reboot: the
// share the counter still holds stays ours and is restored exactly once.
TEST_F(DemotionLedgerTest, UpgradeFromAKernBoottimeLedgerKeepsTheShare) {
  const std::string token = "0123456789abcdef0123456789abcdef";
  {
    DemotionLedger old_version(LedgerPath(), &backend_,
                               "{ sec = 1700000000, usec = 5 } Tue Nov 14");
    ASSERT_TRUE(old_version.Reconcile().ok());
    ASSERT_TRUE(old_version.Demote(50).ok());
  }
  DemotionLedger upgraded(LedgerPath(), &backend_, token);
  absl::StatusOr<ReconcileReport> report = upgraded.Reconcile();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->share, 50);
  ASSERT_TRUE(upgraded.Restore().ok());
  EXPECT_EQ(backend_.counter(), 0);
}

TEST_F(DemotionLedgerTest, RebootBetweenTwoTokensForgetsTheShare) {
  {
    DemotionLedger before(LedgerPath(), &backend_, "0123456789abcdef0123456789abcdef");
    ASSERT_TRUE(before.Reconcile().ok());
    ASSERT_TRUE(before.Demote(50).ok());
  }
  backend_.Reset();
  DemotionLedger after(LedgerPath(), &backend_, "fedcba9876543210fedcba9876543210");
  absl::StatusOr<ReconcileReport> report = after.Reconcile();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->share, 0);
}

TEST_F(DemotionLedgerTest, ShareTakenBackByHandIsClamped) {
  {
    DemotionLedger first(LedgerPath(), &backend_, "");
    ASSERT_TRUE(first.Reconcile().ok());
    ASSERT_TRUE(first.Demote(50).ok());
  }
  ASSERT_TRUE(backend_.Restore(30).ok());  // an operator's -carpdemote 30
  DemotionLedger second(LedgerPath(), &backend_, "");
  absl::StatusOr<ReconcileReport> report = second.Reconcile();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->share, 20);
  ASSERT_TRUE(second.Restore().ok());
  EXPECT_EQ(backend_.counter(), 0);
}

TEST_F(DemotionLedgerTest, LargeSharesGoInStepsTheKernelAccepts) {
  DemotionLedger ledger(LedgerPath(), &backend_, "boot-1");
  ASSERT_TRUE(ledger.Reconcile().ok());
  ASSERT_TRUE(ledger.Demote(200).ok());
  EXPECT_EQ(backend_.demote_calls(), 2);
  EXPECT_EQ(backend_.counter(), 200);
  ASSERT_TRUE(ledger.Restore().ok());
  EXPECT_EQ(backend_.counter(), 0);
}

TEST_F(DemotionLedgerTest, FailedCommandLeavesNoIntentAndNoShare) {
  DemotionLedger ledger(LedgerPath(), &backend_, "boot-1");
  ASSERT_TRUE(ledger.Reconcile().ok());
  backend_.FailNextChange(absl::FailedPreconditionError("ifconfig: SIOCSIFGATTR: bad group"));
  absl::StatusOr<LedgerChange> change = ledger.Demote(50);
  ASSERT_FALSE(change.ok());
  EXPECT_NE(change.status().message().find("bad group"), std::string::npos);
  EXPECT_EQ(ledger.share(), 0);
  EXPECT_EQ(ReadAll(LedgerPath()).find("intent"), std::string::npos);
  ASSERT_TRUE(ledger.Demote(50).ok());
  EXPECT_EQ(backend_.counter(), 50);
}

TEST_F(DemotionLedgerTest, CorruptLedgerIsAClearErrorAndIsLeftAlone) {
  const std::string junk = "version 1\nbackend fake\nshare 5O\nend\n";
  ASSERT_TRUE(WriteFileAtomically(LedgerPath(), junk).ok());
  DemotionLedger ledger(LedgerPath(), &backend_, "boot-1");
  absl::StatusOr<ReconcileReport> report = ledger.Reconcile();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(report.status().message().find(LedgerPath()), std::string::npos);
  EXPECT_NE(report.status().message().find("delete the file"), std::string::npos);
  EXPECT_EQ(ReadAll(LedgerPath()), junk);
  EXPECT_FALSE(ledger.Demote(50).ok());  // refuses to act on a guess
  EXPECT_EQ(backend_.counter(), 0);
}

TEST_F(DemotionLedgerTest, ShareOnAnotherTargetIsRefused) {
  LedgerRecord other{"fake", "group carp", "boot-1", 50, std::nullopt};
  ASSERT_TRUE(WriteFileAtomically(LedgerPath(), FormatLedger(other)).ok());
  DemotionLedger ledger(LedgerPath(), &backend_, "boot-1");
  absl::StatusOr<ReconcileReport> report = ledger.Reconcile();
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("group carp"), std::string::npos) << report.status();

  other.share = 0;  // nothing applied there: the new target is simply adopted
  ASSERT_TRUE(WriteFileAtomically(LedgerPath(), FormatLedger(other)).ok());
  DemotionLedger adopting(LedgerPath(), &backend_, "boot-1");
  EXPECT_TRUE(adopting.Reconcile().ok());
}

TEST_F(DemotionLedgerTest, OwnedValueIsOurShare) {
  FakeDemotionBackend owned(CounterKind::kOwnedValue, 1000);
  ASSERT_TRUE(owned.Demote(50).ok());  // written by a plugin that died before its record
  DemotionLedger ledger(LedgerPath(), &owned, "boot-1");
  absl::StatusOr<ReconcileReport> report = ledger.Reconcile();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->share, 50);
  ASSERT_TRUE(ledger.Restore().ok());
  EXPECT_EQ(owned.counter(), 0);
}

TEST_F(DemotionLedgerTest, UnreadableCounterFailsReconcile) {
  backend_.SetFailReads(true);
  DemotionLedger ledger(LedgerPath(), &backend_, "boot-1");
  absl::StatusOr<ReconcileReport> report = ledger.Reconcile();
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("group fake"), std::string::npos);
}

}  // namespace
}  // namespace carp_exec::failover
