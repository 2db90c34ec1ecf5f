#pragma once
// The coordinator over shared fakes (backend, observer, prober, clock, sink, state dir), for
// failover_coordinator_test and failover_fault_test. Header-only; tests only.

#include <memory>
#include <optional>

#include "absl/synchronization/notification.h"
#include "driver/failover/failover_coordinator.h"
#include "driver/failover/failover_test_support.h"
#include "driver/failover/fake_demotion_backend.h"
#include "driver/failover/temp_dir_for_test.h"
#include "fingerprint/fake_command_runner.h"
#include "gtest/gtest.h"

namespace carp_exec::failover {

inline const TaskRef kOld{"alloc1/traefik/aaaa", "alloc1", "traefik"};
inline const TaskRef kNew{"alloc2/traefik/bbbb", "alloc2", "traefik"};

inline tasks::PersistedTask Live(const TaskRef& task, std::optional<config::ReadyCheck> ready) {
  tasks::PersistedTask persisted;
  persisted.task_id = task.task_id;
  persisted.guarded = true;
  persisted.ready = EncodeReadyCheck(ready);
  persisted.liveness = tasks::PersistedTask::Liveness::kRunning;
  return persisted;
}

class FailoverCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }

  // A coordinator over the shared fakes; a second call models a plugin restart.
  std::unique_ptr<FailoverCoordinator> Make(config::FailoverConfig config = TestFailoverConfig()) {
    auto observer = std::make_unique<ScriptedObserver>();
    observer_ = observer.get();
    auto prober = std::make_unique<ScriptedProber>(prober_failures_);
    prober_ = prober.get();
    FailoverCoordinator::Parts parts;
    parts.observer = std::move(observer);
    parts.backend = std::make_unique<BackendView>(&backend_);
    parts.prober = std::move(prober);
    parts.boot_id = "boot-1";
    parts.watch_exit = watch_exit_;
    parts.open_events = open_events_;
    return std::make_unique<FailoverCoordinator>(std::move(config), dir_.path(), &runner_, &clock_,
                                                 &sink_, std::move(parts));
  }

  HandoverReport HandOverAndWait(FailoverCoordinator* coordinator, const TaskRef& task) {
    absl::Notification done;
    HandoverReport result;
    coordinator->HandOver(task, [&](HandoverReport report) {
      result = std::move(report);
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
    return result;
  }

  TempDirForTest dir_;
  FakeDemotionBackend backend_;
  fingerprint::FakeCommandRunner runner_;
  FakeClock clock_;
  RecordingSink sink_;
  ScriptedObserver* observer_ = nullptr;
  ScriptedProber* prober_ = nullptr;
  int prober_failures_ = 0;
  FailoverCoordinator::ExitWatch watch_exit_;    // set before Make(); empty: no exit watch
  FailoverHandshake::OpenEventsFn open_events_;  // set before Make(); empty: polls only
};

}  // namespace carp_exec::failover
