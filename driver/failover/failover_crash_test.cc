// The demotion ledger under a crash injected between every pair of steps: a plugin SIGKILLed
// at any point must, after the next start, never have applied its share twice, never have
// taken back anyone else's share, and still restore exactly once.
//
// A crash is modelled by an interrupt that stops the ledger at step k (no clean-up, like
// SIGKILL) and abandoning that ledger object; a fresh ledger on the same file then reconciles.

#include <functional>
#include <memory>
#include <string>

#include "driver/failover/demotion_ledger.h"
#include "driver/failover/fake_demotion_backend.h"
#include "driver/failover/temp_dir_for_test.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {
namespace {

constexpr int kOurShare = 50;
constexpr int kOthers = 129;  // rc-style 128 plus one link-down demotion

// Counts steps; returns false ("crash") at step number `crash_at` and at every later one, so an
// abandoned object can do nothing more either.
struct CrashAt {
  int crash_at = -1;  // -1: never
  int steps = 0;
  bool crashed = false;
  LedgerInterrupt Interrupt() {
    return [this](absl::string_view) {
      if (crashed) return false;
      if (steps++ == crash_at) crashed = true;
      return !crashed;
    };
  }
};

// One plugin lifetime: start (reconcile), a guarded task is stopped (demote), its replacement
// becomes ready (restore). Stops at the first error, as a killed plugin would.
void RunLifetime(DemotionLedger* ledger) {
  if (!ledger->Reconcile().ok()) return;
  if (!ledger->Demote(kOurShare).ok()) return;
  (void)ledger->Restore();
}

struct Case {
  const char* name;
  CounterKind kind;
  int max_step;
  int share;
};

class FailoverCrashTest : public ::testing::TestWithParam<Case> {
 protected:
  std::unique_ptr<FakeDemotionBackend> NewBackend() {
    auto backend = std::make_unique<FakeDemotionBackend>(GetParam().kind, GetParam().max_step);
    if (GetParam().kind == CounterKind::kSharedCounter) backend->OtherUserAdds(kOthers);
    return backend;
  }
  int Others() const { return GetParam().kind == CounterKind::kSharedCounter ? kOthers : 0; }

  // After a restart: our belief equals what is applied, others' shares are intact, and a full
  // demote / restart / restore cycle applies and removes our share exactly once.
  void ExpectRecovers(FakeDemotionBackend* backend, const std::string& path, int others,
                      const std::string& where) {
    SCOPED_TRACE(where);
    DemotionLedger fresh(path, backend, "boot-1");
    absl::StatusOr<ReconcileReport> report = fresh.Reconcile();
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(fresh.share(), backend->ours()) << "ledger and reality disagree";
    if (GetParam().kind != CounterKind::kUnknowable) {
      EXPECT_EQ(backend->counter(), others + backend->ours());
    }

    ASSERT_TRUE(fresh.Demote(GetParam().share).ok());
    EXPECT_EQ(backend->ours(), GetParam().share) << "share not applied exactly once";

    DemotionLedger after_restart(path, backend, "boot-1");
    ASSERT_TRUE(after_restart.Reconcile().ok());
    ASSERT_TRUE(after_restart.Demote(GetParam().share).ok());
    EXPECT_EQ(backend->ours(), GetParam().share) << "applied twice after a restart";

    ASSERT_TRUE(after_restart.Restore().ok());
    EXPECT_EQ(backend->ours(), 0) << "not restored exactly once";
    if (GetParam().kind != CounterKind::kUnknowable) {
      EXPECT_EQ(backend->counter(), others) << "someone else's share was touched";
    }
  }
};

TEST_P(FailoverCrashTest, CrashBetweenEveryPairOfSteps) {
  int total_steps = 0;
  {
    TempDirForTest dir;
    ASSERT_FALSE(dir.path().empty());
    auto backend = NewBackend();
    CrashAt never;
    DemotionLedger ledger(dir.path() + "/ledger", backend.get(), "boot-1", never.Interrupt());
    RunLifetime(&ledger);
    ASSERT_EQ(backend->ours(), 0);
    total_steps = never.steps;
  }
  ASSERT_GT(total_steps, 10);  // reconcile + two bracketed changes (more with split steps)

  for (int k = 0; k <= total_steps; ++k) {
    TempDirForTest dir;
    ASSERT_FALSE(dir.path().empty());
    const std::string path = dir.path() + "/ledger";
    auto backend = NewBackend();
    {
      CrashAt crash{k};
      auto doomed =
          std::make_unique<DemotionLedger>(path, backend.get(), "boot-1", crash.Interrupt());
      RunLifetime(doomed.get());
      doomed.reset();  // SIGKILL: the object is gone, whatever it was doing
    }
    int others = Others();
    if (GetParam().kind == CounterKind::kSharedCounter) {
      backend->OtherUserAdds(1);  // the world moves on while the plugin is down
      others += 1;
    }
    ExpectRecovers(backend.get(), path, others, "crash at step " + std::to_string(k));
    if (HasFatalFailure()) return;
  }
}

// A second crash while recovering from the first (every k, then every j of the recovery).
TEST_P(FailoverCrashTest, CrashAgainWhileRecovering) {
  constexpr int kFirstSteps = 24;
  for (int k = 0; k < kFirstSteps; ++k) {
    for (int j = 0; j < kFirstSteps; j += 3) {
      TempDirForTest dir;
      ASSERT_FALSE(dir.path().empty());
      const std::string path = dir.path() + "/ledger";
      auto backend = NewBackend();
      CrashAt first{k};
      {
        DemotionLedger doomed(path, backend.get(), "boot-1", first.Interrupt());
        RunLifetime(&doomed);
      }
      CrashAt second{j};
      {
        DemotionLedger doomed_again(path, backend.get(), "boot-1", second.Interrupt());
        RunLifetime(&doomed_again);
      }
      ExpectRecovers(backend.get(), path, Others(),
                     "crash at step " + std::to_string(k) + " then " + std::to_string(j));
      if (HasFatalFailure()) return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Backends, FailoverCrashTest,
    ::testing::Values(Case{"shared_counter", CounterKind::kSharedCounter, 128, kOurShare},
                      Case{"shared_counter_split_steps", CounterKind::kSharedCounter, 20,
                           kOurShare},
                      Case{"owned_value", CounterKind::kOwnedValue, 1000, kOurShare},
                      Case{"unknowable", CounterKind::kUnknowable, 1000, kOurShare}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace carp_exec::failover
