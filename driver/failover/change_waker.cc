#include "driver/failover/change_waker.h"

#include <utility>

#include "driver/mutex_lock.h"

namespace carp_exec::failover {

ChangeWaker::ChangeWaker(std::unique_ptr<fingerprint::ChangeEventSource> source,
                         std::function<void()> on_change)
    : source_(std::move(source)),
      on_change_(std::move(on_change)),
      stop_pipe_(fingerprint::WakePipe::Open()),
      thread_([this] { Loop(); }) {}

ChangeWaker::~ChangeWaker() {
  {
    carp_exec::MutexLock lock(mu_);
    stopping_ = true;
  }
  if (stop_pipe_.ok()) stop_pipe_->Wake();
  thread_.join();
}

void ChangeWaker::Consumed() {
  carp_exec::MutexLock lock(mu_);
  pending_ = false;
}

void ChangeWaker::Loop() {
  while (true) {
    {
      carp_exec::MutexLock lock(mu_);
      if (stopping_) return;
    }
    // Wall time: the source's own clock. A step only makes one slice shorter or longer.
    // With the pipe the destructor wakes the Wait, so it need not come back every slice.
    const absl::Duration wait = stop_pipe_.ok() ? kWokenSlice : kSlice;
    if (!source_->Wait(absl::Now() + wait, stop_pipe_.ok() ? stop_pipe_->read_fd() : -1)) {
      continue;
    }
    bool call = false;
    {
      carp_exec::MutexLock lock(mu_);
      if (stopping_) return;
      call = !pending_;
      pending_ = true;
    }
    // Outside the lock: it posts to the coordinator's worker.
    if (call) on_change_();
  }
}

}  // namespace carp_exec::failover
