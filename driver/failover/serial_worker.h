#pragma once
// One thread that runs posted jobs one at a time, in order, each at or after its due time on a
// Clock. The coordinator puts all failover work on it, so gRPC threads never block on a
// hand-over and no two failover actions ever overlap.

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "driver/failover/clock.h"

namespace carp_exec::failover {

class SerialWorker {
 public:
  using Job = std::function<void()>;

  // `clock` must outlive the worker. The thread starts at once.
  explicit SerialWorker(Clock* clock);
  // Stops the thread: the job running now finishes; jobs not started are dropped, but the
  // `on_drop` of each (see PostAt) runs on the destroying thread.
  ~SerialWorker();
  // Stops and joins the thread, keeping the object (and its queue) alive, so a running job may
  // still post (what it posts is dropped with the rest). Idempotent; not from the worker.
  void Stop();
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  // Runs `job` as soon as the jobs before it are done.
  void Post(Job job, Job on_drop = nullptr) {
    PostAt(absl::InfinitePast(), std::move(job), std::move(on_drop));
  }
  // Runs `job` once the clock reaches `due` (and the jobs due before it are done). Jobs with
  // equal due times run in posting order. `on_drop` runs instead if the worker is destroyed
  // first. Thread-safe; may be called from a job.
  void PostAt(absl::Time due, Job job, Job on_drop = nullptr);

  // True on the worker thread (for assertions in tests and debug checks).
  bool OnWorkerThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  struct Entry {
    Job job;
    Job on_drop;
  };
  void Loop();

  Clock* clock_;
  absl::Mutex mu_;
  // Ordered by (due, sequence): earliest first, FIFO among equals.
  std::map<std::pair<absl::Time, uint64_t>, Entry> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace carp_exec::failover
