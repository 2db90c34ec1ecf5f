// The demotion ledger under a crash injected between every pair of steps: a plugin SIGKILLed
// at any point must, after the next start, never have applied its share twice, never have
// taken back anyone else's share, and still restore exactly once.
//
// A crash is modelled by an interrupt that stops the ledger at step k (no clean-up, like
// SIGKILL) and abandoning that ledger object; a fresh ledger on the same file then reconciles.

#include <functional>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "driver/failover/demotion_ledger.h"
#include "driver/failover/failover_coordinator.h"
#include "driver/failover/failover_test_support.h"
#include "driver/failover/fake_demotion_backend.h"
#include "driver/failover/temp_dir_for_test.h"
#include "fingerprint/fake_command_runner.h"
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

// ENOSPC at every step: the normal write (temp file + rename) of every record fails, as on a
// full /var; records go to the preallocated file in place. A crash at any step must still be
// recovered exactly as above.
TEST_P(FailoverCrashTest, CrashAtEveryStepWhileTheDiskIsFull) {
  auto full = [](absl::string_view write) { return absl::EndsWith(write, ":write"); };
  for (int k = 0; k <= 40; ++k) {
    TempDirForTest dir;
    ASSERT_FALSE(dir.path().empty());
    const std::string path = dir.path() + "/ledger";
    auto backend = NewBackend();
    {
      // The plugin's first start had room: the ledger file exists (preallocated).
      DemotionLedger first(path, backend.get(), "boot-1");
      ASSERT_TRUE(first.Reconcile().ok());
    }
    {
      CrashAt crash{k};
      auto doomed =
          std::make_unique<DemotionLedger>(path, backend.get(), "boot-1", crash.Interrupt(), full);
      RunLifetime(doomed.get());
      doomed.reset();
    }
    ExpectRecovers(backend.get(), path, Others(), "disk full, crash at step " + std::to_string(k));
    if (HasFatalFailure()) return;
  }
}

// Whatever the disk refuses (each of the four writes of a demotion, normal and in place), the
// demotion is applied; when the in-place writes work, the ledger still knows it after a crash.
TEST_P(FailoverCrashTest, DiskFullNeverSkipsADemotion) {
  const char* writes[] = {"intent:write", "intent:in-place", "record:write", "record:in-place"};
  for (int mask = 0; mask < 16; ++mask) {
    SCOPED_TRACE(mask);
    TempDirForTest dir;
    ASSERT_FALSE(dir.path().empty());
    const std::string path = dir.path() + "/ledger";
    auto backend = NewBackend();
    {
      DemotionLedger first(path, backend.get(), "boot-1");
      ASSERT_TRUE(first.Reconcile().ok());
    }
    bool armed = false;  // the disk fills up after this start
    auto full = [&](absl::string_view write) {
      if (!armed) return false;
      for (int bit = 0; bit < 4; ++bit) {
        if ((mask & (1 << bit)) != 0 && write == writes[bit]) return true;
      }
      return false;
    };
    DemotionLedger ledger(path, backend.get(), "boot-1", nullptr, full);
    ASSERT_TRUE(ledger.Reconcile().ok());
    armed = true;
    absl::StatusOr<LedgerChange> change = ledger.Demote(GetParam().share);
    ASSERT_TRUE(change.ok()) << change.status();
    EXPECT_EQ(backend->ours(), GetParam().share) << "a demotion was skipped for want of disk";
    EXPECT_EQ(ledger.share(), GetParam().share);
    const bool intent_lost = (mask & 0b0011) == 0b0011;
    const bool record_lost = (mask & 0b1100) == 0b1100;
    EXPECT_EQ(change->unrecorded.empty(), !intent_lost && !record_lost) << change->unrecorded;
    if (!record_lost) {
      // The file knows our share: a crash now is recovered exactly.
      ExpectRecovers(backend.get(), path, Others(), "after a full disk");
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

// The same through the coordinator: a plugin lifetime (start demoted, replacement ready and
// restored, stop with hand-over, exit) crashes at ledger step k; the next plugin process
// starts from the state dir and must end demoted exactly once, then restore exactly once.
class CoordinatorCrashTest : public ::testing::TestWithParam<bool> {};

struct PluginProcess {
  std::unique_ptr<FailoverCoordinator> coordinator;
  RecordingSink sink;
};

std::unique_ptr<PluginProcess> StartPlugin(const std::string& state_dir,
                                           FakeDemotionBackend* backend,
                                           fingerprint::FakeCommandRunner* runner, FakeClock* clock,
                                           LedgerInterrupt interrupt,
                                           const std::vector<tasks::PersistedTask>& tasks) {
  auto process = std::make_unique<PluginProcess>();
  FailoverCoordinator::Parts parts;
  parts.observer = std::make_unique<ScriptedObserver>();  // BACKUP: no wait
  parts.backend = std::make_unique<BackendView>(backend);
  parts.prober = std::make_unique<ScriptedProber>(0);
  parts.boot_id = "boot-1";
  parts.ledger_interrupt = std::move(interrupt);
  process->coordinator = std::make_unique<FailoverCoordinator>(
      TestFailoverConfig(), state_dir, runner, clock, &process->sink, std::move(parts));
  (void)process->coordinator->Start(tasks);
  return process;
}

void Lifetime(FailoverCoordinator* coordinator) {
  const TaskRef task{"alloc1/traefik/aaaa", "alloc1", "traefik"};
  coordinator->GuardedTaskStarted(task, std::nullopt);  // ready at once: restore
  absl::Notification handed_over;
  coordinator->HandOver(task, [&](HandoverReport) { handed_over.Notify(); });
  handed_over.WaitForNotification();  // demote
  coordinator->GuardedTaskExited(task);
  coordinator->Flush();
}

TEST_P(CoordinatorCrashTest, PluginKilledAtEveryLedgerStep) {
  const bool task_alive_at_restart = GetParam();
  fingerprint::FakeCommandRunner runner;
  FakeClock clock;
  int total_steps = 0;
  {
    TempDirForTest dir;
    ASSERT_FALSE(dir.path().empty());
    FakeDemotionBackend backend;
    CrashAt never;
    auto plugin = StartPlugin(dir.path(), &backend, &runner, &clock, never.Interrupt(), {});
    Lifetime(plugin->coordinator.get());
    ASSERT_EQ(backend.ours(), 50);
    total_steps = never.steps;
  }
  ASSERT_GT(total_steps, 20);

  for (int k = 0; k <= total_steps; ++k) {
    SCOPED_TRACE("crash at step " + std::to_string(k));
    TempDirForTest dir;
    ASSERT_FALSE(dir.path().empty());
    FakeDemotionBackend backend;
    backend.OtherUserAdds(kOthers);
    {
      CrashAt crash{k};
      auto doomed = StartPlugin(dir.path(), &backend, &runner, &clock, crash.Interrupt(), {});
      Lifetime(doomed->coordinator.get());
    }  // SIGKILL
    const TaskRef replacement{"alloc2/traefik/bbbb", "alloc2", "traefik"};
    std::vector<tasks::PersistedTask> live;
    if (task_alive_at_restart) {
      tasks::PersistedTask persisted;
      persisted.task_id = replacement.task_id;
      persisted.guarded = true;
      persisted.liveness = tasks::PersistedTask::Liveness::kRunning;
      live.push_back(persisted);
    }
    auto restarted = StartPlugin(dir.path(), &backend, &runner, &clock, nullptr, live);
    restarted->coordinator->Flush();
    EXPECT_TRUE(backend.ours() == 0 || backend.ours() == 50) << backend.ours();
    EXPECT_EQ(backend.counter(), kOthers + backend.ours());
    if (!task_alive_at_restart) {
      EXPECT_EQ(backend.ours(), 50) << "must be demoted exactly once";
    }

    restarted->coordinator->GuardedTaskStarted(replacement, std::nullopt);
    restarted->coordinator->Flush();
    EXPECT_EQ(backend.ours(), 0) << "not restored exactly once";
    EXPECT_EQ(backend.counter(), kOthers) << "someone else's share was touched";
    if (HasFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(AtRestart, CoordinatorCrashTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "guarded_task_alive"
                                                         : "no_guarded_task");
                         });

}  // namespace
}  // namespace carp_exec::failover
