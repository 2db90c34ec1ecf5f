#include "driver/service/blocking_calls.h"

#include <utility>

#include "driver/mutex_lock.h"

namespace carp_exec::service {

BlockingCalls::BlockingCalls(int max_threads) : max_threads_(max_threads < 1 ? 1 : max_threads) {}

BlockingCalls::~BlockingCalls() {
  std::vector<std::thread> threads;
  {
    carp_exec::MutexLock lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

void BlockingCalls::Run(std::function<void()> work) {
  carp_exec::MutexLock lock(mu_);
  queue_.push_back(std::move(work));
  // A new thread only when nobody is free to take the work and the bound allows it.
  if (idle_ == 0 && static_cast<int>(threads_.size()) < max_threads_) {
    threads_.emplace_back([this] { Loop(); });
  }
}

void BlockingCalls::Loop() {
  for (;;) {
    std::function<void()> work;
    {
      carp_exec::MutexLock lock(mu_);
      ++idle_;
      auto ready = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stopping_; };
      mu_.Await(absl::Condition(&ready));
      --idle_;
      if (queue_.empty()) return;  // stopping, and nothing left to run
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

}  // namespace carp_exec::service
