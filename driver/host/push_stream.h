#pragma once
// A server-streaming reactor that other threads push messages into.
//
// gRPC allows one outstanding write per stream, and a reactor is deleted by gRPC after
// OnDone; PushStream queues messages, writes them one at a time, and calls Finish exactly
// once, only when no write is in flight, so a pusher never touches a finished reactor.
//
// Lifetime rule for registries (hubs) that push from other threads: register the stream
// under the hub's lock, push while holding the hub's lock, and unregister in OnClosed()
// (which takes the hub's lock). OnClosed() runs in OnDone, just before the stream deletes
// itself, so a stream seen under the hub's lock is alive.

#include <deque>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"

namespace carp_exec::host {

template <typename Msg>
class PushStream : public grpc::ServerWriteReactor<Msg> {
 public:
  // Sends the headers at once, so a client sees the stream open before the first message
  // (TaskEvents may stay silent for hours).
  PushStream() { this->StartSendInitialMetadata(); }
  PushStream(const PushStream&) = delete;
  PushStream& operator=(const PushStream&) = delete;

  // Queues `msg`. Returns false (and drops it) once the stream is closing.
  bool Push(Msg msg) {
    bool start = false;
    {
      absl::MutexLock lock(&mu_);
      if (closing_ || finished_) return false;
      queue_.push_back(std::move(msg));
      if (!writing_) {
        writing_ = true;
        current_ = std::move(queue_.front());
        queue_.pop_front();
        start = true;
      }
    }
    if (start) this->StartWrite(&current_);
    return true;
  }

  // Ends the stream with `status` after the queued messages were written.
  void Close(grpc::Status status) {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (closing_ || finished_) return;
      closing_ = true;
      close_status_ = std::move(status);
      finish = !writing_ && queue_.empty();
      if (finish) finished_ = true;
    }
    if (finish) this->Finish(close_status_);
  }

  size_t Queued() {
    absl::MutexLock lock(&mu_);
    return queue_.size() + (writing_ ? 1 : 0);
  }

 protected:
  ~PushStream() override = default;
  // Runs once in OnDone, before deletion: unregister from hubs here.
  virtual void OnClosed() {}

 private:
  void OnWriteDone(bool ok) override {
    bool start = false;
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        // The client is gone; drop the rest.
        queue_.clear();
        closing_ = true;
        close_status_ = grpc::Status::CANCELLED;
      }
      if (!queue_.empty()) {
        current_ = std::move(queue_.front());
        queue_.pop_front();
        start = true;
      } else {
        writing_ = false;
        if (closing_ && !finished_) finished_ = finish = true;
      }
    }
    if (start) this->StartWrite(&current_);
    if (finish) this->Finish(close_status_);
  }

  void OnCancel() override {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      queue_.clear();
      closing_ = true;
      close_status_ = grpc::Status::CANCELLED;
      if (!writing_ && !finished_) finished_ = finish = true;
    }
    if (finish) this->Finish(close_status_);
  }

  void OnDone() override {
    OnClosed();
    delete this;
  }

  absl::Mutex mu_;
  std::deque<Msg> queue_ ABSL_GUARDED_BY(mu_);
  Msg current_;  // owned by the write in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status close_status_;
};

}  // namespace carp_exec::host
