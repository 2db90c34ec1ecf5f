#pragma once
// Waits on a hand-over's change-event source (fingerprint/change_events.h) on a thread of its
// own, so the coordinator's worker stays free between confirmation polls (overlapping stops
// join, ready probes run) and still polls as soon as the kernel reports a change.
//
// Each reported change calls `on_change` (on the waker's thread) at most once until
// Consumed() is called: a burst of changes asks for one early poll, not a queue of them. The
// waker only says "look again"; the scheduled polls stay the safety net.
//
// Thread-safe. The destructor stops the thread and joins it: it wakes the source's Wait through
// a WakePipe (fingerprint/unique_fd.h), so the join takes microseconds, not a slice. The
// coordinator joins a waker on its worker as a hand-over ends, and a slow join there delayed
// the release of the stops by up to kSlice (issue 12's "signal after the move"). Without a pipe
// (out of descriptors) the join takes at most kSlice. `on_change` never runs after it returns.

#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fingerprint/change_events.h"
#include "fingerprint/unique_fd.h"

namespace carp_exec::failover {

class ChangeWaker {
 public:
  // How long one Wait on the source lasts before the thread checks whether it must stop (the
  // bound of a join when there is no wake pipe).
  static constexpr absl::Duration kSlice = absl::Milliseconds(50);
  // The same when the destructor can wake the Wait through its pipe: a bound, not a poll.
  static constexpr absl::Duration kWokenSlice = absl::Seconds(1);

  // `source` must not be null. The thread starts at once.
  ChangeWaker(std::unique_ptr<fingerprint::ChangeEventSource> source,
              std::function<void()> on_change);
  ~ChangeWaker();
  ChangeWaker(const ChangeWaker&) = delete;
  ChangeWaker& operator=(const ChangeWaker&) = delete;

  // The early poll `on_change` asked for has run: the next change may ask again.
  void Consumed();

 private:
  void Loop();

  std::unique_ptr<fingerprint::ChangeEventSource> source_;  // only the thread uses it
  std::function<void()> on_change_;
  // Written by the destructor; the source's Wait returns at once when it is readable.
  const absl::StatusOr<fingerprint::WakePipe> stop_pipe_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool pending_ ABSL_GUARDED_BY(mu_) = false;  // on_change ran, Consumed not yet
  std::thread thread_;                         // last: started after the fields it reads
};

}  // namespace carp_exec::failover
