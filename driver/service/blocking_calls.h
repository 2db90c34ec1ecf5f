#pragma once
// A small, bounded pool for the RPCs whose work may block: StartTask (waits for the
// supervisor's start report), StopTask/SignalTask (a round trip to the supervisor),
// DestroyTask (waits for the exit after SIGKILL), RecoverTask.
//
// gRPC's callback API runs handlers on very few threads; a handler that blocks on one stuck
// supervisor would stall every other RPC of the plugin (seen in bench/scale_bench: 16 stuck
// supervisors froze Capabilities for 40 s). Handlers hand such work to this pool and finish
// their reactor from it. Threads are started on demand up to `max_threads` and then reused,
// so an idle plugin keeps few threads and a busy one stays bounded.

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace carp_exec::service {

class BlockingCalls {
 public:
  explicit BlockingCalls(int max_threads);
  // Runs the queued work, then joins every thread.
  ~BlockingCalls();
  BlockingCalls(const BlockingCalls&) = delete;
  BlockingCalls& operator=(const BlockingCalls&) = delete;

  // Queues `work`; it runs on a pool thread, in FIFO order with the other queued work.
  void Run(std::function<void()> work);

 private:
  void Loop();

  const int max_threads_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  int idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace carp_exec::service
