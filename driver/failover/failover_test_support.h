#pragma once
// Test doubles shared by the failover tests: a scripted NodeObserver, an EventSink that records
// and lets a test wait for an event, and a scripted ReadyProber. Header-only; tests only.

#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "driver/config/plugin_config.h"
#include "driver/failover/clock.h"
#include "driver/failover/failover_event.h"
#include "driver/failover/ready_probe.h"
#include "driver/mutex_lock.h"
#include "fingerprint/node_observer.h"

namespace carp_exec::failover {

inline fingerprint::Observation Seen(fingerprint::VrrpState state,
                                     std::vector<std::string> vips_held = {}) {
  fingerprint::Observation seen;
  seen.state = state;
  seen.vips_held = std::move(vips_held);
  seen.holds_vip = !seen.vips_held.empty();
  seen.detail = std::string(fingerprint::VrrpStateName(state));
  return seen;
}

// Returns the queued observations one per Observe(), then repeats the last one.
class ScriptedObserver final : public fingerprint::NodeObserver {
 public:
  void Queue(absl::StatusOr<fingerprint::Observation> next) {
    carp_exec::MutexLock lock(mu_);
    queue_.push_back(std::move(next));
  }
  // From the next observation on, only `next` (what was queued is dropped).
  void Replace(absl::StatusOr<fingerprint::Observation> next) {
    carp_exec::MutexLock lock(mu_);
    queue_.clear();
    queue_.push_back(std::move(next));
  }
  void SetUsable(absl::Status status) {
    carp_exec::MutexLock lock(mu_);
    usable_ = std::move(status);
  }
  int calls() {
    carp_exec::MutexLock lock(mu_);
    return calls_;
  }
  // Observe waits (outside the lock, at most 10 s) until `gate` is notified; null: no wait.
  void SetGate(absl::Notification* gate) {
    carp_exec::MutexLock lock(mu_);
    gate_ = gate;
  }
  absl::StatusOr<fingerprint::Observation> Observe() override {
    absl::Notification* gate = nullptr;
    {
      carp_exec::MutexLock lock(mu_);
      gate = gate_;
    }
    if (gate != nullptr) (void)gate->WaitForNotificationWithTimeout(absl::Seconds(10));
    carp_exec::MutexLock lock(mu_);
    ++calls_;
    if (queue_.empty()) return Seen(fingerprint::VrrpState::kBackup);
    absl::StatusOr<fingerprint::Observation> next = queue_.front();
    if (queue_.size() > 1) queue_.pop_front();
    return next;
  }
  absl::Status CheckUsable() override {
    carp_exec::MutexLock lock(mu_);
    return usable_;
  }

 private:
  absl::Mutex mu_;
  std::deque<absl::StatusOr<fingerprint::Observation>> queue_ ABSL_GUARDED_BY(mu_);
  absl::Status usable_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Notification* gate_ ABSL_GUARDED_BY(mu_) = nullptr;
};

class RecordingSink final : public EventSink {
 public:
  void Emit(const FailoverEvent& event) override {
    carp_exec::MutexLock lock(mu_);
    events_.push_back(event);
  }
  std::vector<FailoverEvent> events() {
    carp_exec::MutexLock lock(mu_);
    return events_;
  }
  std::vector<std::string> Messages() {
    std::vector<std::string> out;
    for (const FailoverEvent& event : events()) out.push_back(event.message);
    return out;
  }
  std::vector<std::string> Phases() {
    std::vector<std::string> out;
    for (const FailoverEvent& event : events()) out.push_back(event.annotations.at("phase"));
    return out;
  }
  bool Has(absl::string_view text) {
    for (const FailoverEvent& event : events()) {
      if (absl::StrContains(event.message, text)) return true;
    }
    return false;
  }
  // Waits (real time, bounded) for an event whose message contains `text`.
  bool WaitFor(absl::string_view text, absl::Duration limit = absl::Seconds(10)) {
    carp_exec::MutexLock lock(mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const FailoverEvent& event : events_) {
        if (absl::StrContains(event.message, text)) return true;
      }
      return false;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), limit);
  }

 private:
  absl::Mutex mu_;
  std::vector<FailoverEvent> events_ ABSL_GUARDED_BY(mu_);
};

// Not ready for the first `failures` attempts, then ready; counts attempts.
class ScriptedProber final : public ReadyProber {
 public:
  explicit ScriptedProber(int failures = 0) : failures_(failures) {}
  void SetFailures(int failures) {
    carp_exec::MutexLock lock(mu_);
    failures_ = failures;
  }
  int attempts() {
    carp_exec::MutexLock lock(mu_);
    return attempts_;
  }
  // Each attempt then moves `clock` on by `cost`, like a slow endpoint.
  void SetAttemptCost(FakeClock* clock, absl::Duration cost) {
    carp_exec::MutexLock lock(mu_);
    clock_ = clock;
    cost_ = cost;
  }
  ProbeResult Probe(const config::ReadyCheck& check, absl::Duration) override {
    carp_exec::MutexLock lock(mu_);
    if (clock_ != nullptr) clock_->Advance(cost_);
    ++attempts_;
    std::string url = check.http.has_value() ? check.http->url : "tcp";
    if (failures_ < 0 || attempts_ <= failures_) return {false, url + ": connection refused"};
    return {true, url + " 200"};
  }

 private:
  absl::Mutex mu_;
  int failures_ ABSL_GUARDED_BY(mu_);  // < 0: never ready
  int attempts_ ABSL_GUARDED_BY(mu_) = 0;
  FakeClock* clock_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Duration cost_ ABSL_GUARDED_BY(mu_);
};

// A failover block like issue 4's example, with fast test timings.
inline config::FailoverConfig TestFailoverConfig() {
  config::FailoverConfig config;
  config.backend = config::FailoverBackend::kOpenBsdCarp;
  config.group = "carp";
  config.interfaces = {"carp0"};
  config.demote_by = 50;
  config::IpAddress vip;
  vip.text = "192.0.2.10";
  config.vip = {vip};
  config.confirm_timeout = absl::Seconds(10);
  config.poll_interval = absl::Milliseconds(50);
  config.settle = absl::ZeroDuration();
  config.recover_stop_grace = absl::Minutes(1);
  config.ifconfig_path = "/sbin/ifconfig";
  config.sysctl_path = "/sbin/sysctl";
  config.ip_path = "/sbin/ip";
  return config;
}

inline config::ReadyCheck TestReadyCheck() {
  config::ReadyCheck check;
  config::HttpProbeUrl url;
  url.url = "http://127.0.0.1:8080/ping";
  url.address = config::HostPort{"127.0.0.1", 8080};
  url.target = "/ping";
  check.http = url;
  check.interval = absl::Milliseconds(250);
  check.timeout = absl::Seconds(60);
  return check;
}

}  // namespace carp_exec::failover
