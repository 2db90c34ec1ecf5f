#pragma once
// Test double for DemotionBackend: a simulated demote counter shared with "other users"
// (/etc/rc, relayd, link-down demotions), with the kernel's limits, and a switch that makes the
// next call fail. Header-only; tests only.

#include <climits>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "driver/failover/demotion_backend.h"
#include "driver/mutex_lock.h"

namespace carp_exec::failover {

class FakeDemotionBackend final : public DemotionBackend {
 public:
  explicit FakeDemotionBackend(CounterKind kind = CounterKind::kSharedCounter, int max_step = 128)
      : kind_(kind), max_step_(max_step) {}

  absl::string_view Name() const override { return "fake"; }
  std::string Target() const override { return "group fake"; }
  CounterKind Kind() const override { return kind_; }
  int MaxStep() const override { return max_step_; }

  absl::Status Demote(int amount) override { return Change(amount); }
  absl::Status Restore(int amount) override { return Change(-amount); }
  absl::StatusOr<std::optional<int>> CurrentCount() override {
    carp_exec::MutexLock lock(mu_);
    if (kind_ == CounterKind::kUnknowable) return std::optional<int>();
    if (fail_reads_) return absl::UnavailableError("fake: counter unreadable");
    return std::optional<int>(counter_);
  }
  absl::Status CheckUsable() override {
    carp_exec::MutexLock lock(mu_);
    return usable_;
  }

  // What someone else does to the same counter (rc's 128, relayd's 1, a reboot's reset).
  void OtherUserAdds(int amount) {
    carp_exec::MutexLock lock(mu_);
    counter_ += amount;
  }
  void Reset() {
    carp_exec::MutexLock lock(mu_);
    counter_ = 0;
  }
  int counter() {
    carp_exec::MutexLock lock(mu_);
    return counter_;
  }
  // Net amount applied through Demote/Restore (ours), and the number of calls.
  int ours() {
    carp_exec::MutexLock lock(mu_);
    return ours_;
  }
  int demote_calls() {
    carp_exec::MutexLock lock(mu_);
    return demote_calls_;
  }
  int restore_calls() {
    carp_exec::MutexLock lock(mu_);
    return restore_calls_;
  }
  void FailNextChange(absl::Status status) {
    carp_exec::MutexLock lock(mu_);
    fail_next_ = std::move(status);
  }
  void SetFailReads(bool fail) {
    carp_exec::MutexLock lock(mu_);
    fail_reads_ = fail;
  }
  void SetUsable(absl::Status status) {
    carp_exec::MutexLock lock(mu_);
    usable_ = std::move(status);
  }

 private:
  absl::Status Change(int delta) {
    carp_exec::MutexLock lock(mu_);
    (delta > 0 ? demote_calls_ : restore_calls_)++;
    if (!fail_next_.ok()) {
      absl::Status s = fail_next_;
      fail_next_ = absl::OkStatus();
      return s;
    }
    if (kind_ == CounterKind::kUnknowable) {
      // Like a user's idempotent command: "set demoted" / "set restored".
      ours_ = counter_ = delta > 0 ? delta : 0;
      return absl::OkStatus();
    }
    int magnitude = delta < 0 ? -delta : delta;
    if (magnitude > max_step_) return absl::InvalidArgumentError("fake: step too large");
    // OpenBSD refuses a counter outside 0..255.
    if (counter_ + delta < 0 || counter_ + delta > 255) {
      return absl::OutOfRangeError(
          absl::StrCat("fake: counter ", counter_, " + ", delta, " is outside 0..255"));
    }
    counter_ += delta;
    ours_ += delta;
    return absl::OkStatus();
  }

  const CounterKind kind_;
  const int max_step_;
  absl::Mutex mu_;
  int counter_ ABSL_GUARDED_BY(mu_) = 0;
  int ours_ ABSL_GUARDED_BY(mu_) = 0;
  int demote_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int restore_calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool fail_reads_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status fail_next_ ABSL_GUARDED_BY(mu_);
  absl::Status usable_ ABSL_GUARDED_BY(mu_);
};

// Forwards to a FakeDemotionBackend it does not own, so the fake (the "kernel") outlives each
// coordinator that takes ownership of a backend, as the kernel outlives plugin restarts.
class BackendView final : public DemotionBackend {
 public:
  explicit BackendView(FakeDemotionBackend* real) : real_(real) {}
  absl::string_view Name() const override { return real_->Name(); }
  std::string Target() const override { return real_->Target(); }
  CounterKind Kind() const override { return real_->Kind(); }
  int MaxStep() const override { return real_->MaxStep(); }
  absl::Status Demote(int n) override { return real_->Demote(n); }
  absl::Status Restore(int n) override { return real_->Restore(n); }
  absl::StatusOr<std::optional<int>> CurrentCount() override { return real_->CurrentCount(); }
  absl::Status CheckUsable() override { return real_->CheckUsable(); }

 private:
  FakeDemotionBackend* real_;
};

}  // namespace carp_exec::failover
