#pragma once
// WriteQueue: the one write path of the plugin's server streams (Fingerprint, TaskEvents,
// TaskStats, go-plugin's stdio stream through PushStream, and ExecTaskStreaming).
//
// gRPC allows one outstanding write per call and deletes a reactor after OnDone. A WriteQueue
// keeps the messages a call has not sent yet, starts one write at a time through
// `start_write`, and calls `finish` exactly once, only when no write is in flight, so a
// producer on another thread never writes to a finished call.
//
// It is bounded: at most `capacity` messages wait besides the one being written; Push refuses
// more (a client that stops reading must not grow the plugin). Streams that carry a state
// rather than a history use PushLatest, which replaces the newest waiting message instead.
// A producer that can slow down (the exec stream's output) sets `pause_at`/`resume_at`:
// `on_backlog(true)` fires when `pause_at` messages wait, `on_backlog(false)` once the queue is
// back to `resume_at`. on_backlog runs under the queue's lock (so pause/resume never arrive out
// of order): it must only flip a flag or wake a thread, and must not call into the queue.
//
// Thread-safety: every method may be called from any thread. start_write and finish are
// called without the lock held. The owner (the reactor) forwards its OnWriteDone and OnCancel
// here and must keep the queue alive until gRPC's OnDone.

#include <cstddef>
#include <deque>
#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "driver/mutex_lock.h"
#include "grpcpp/support/status.h"

namespace carp_exec::host {

template <typename Msg>
class WriteQueue {
 public:
  struct Options {
    size_t capacity = 64;  // messages waiting besides the one in flight; at least 1
    size_t pause_at = 0;   // 0 = no backlog signal; else on_backlog(true) at this many waiting
    size_t resume_at = 0;  // on_backlog(false) once no more than this many wait
  };
  enum class PushResult { kQueued, kReplaced, kFull, kClosed };

  // `start_write(msg)` must begin one gRPC write of *msg (valid until OnWriteDone);
  // `finish(status)` must end the call. `on_backlog` may be empty.
  WriteQueue(Options options, std::function<void(const Msg*)> start_write,
             std::function<void(const grpc::Status&)> finish,
             std::function<void(bool)> on_backlog = {})
      : options_(Normalized(options)),
        start_write_(std::move(start_write)),
        finish_(std::move(finish)),
        on_backlog_(std::move(on_backlog)) {}
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Queues `msg` (or writes it at once when idle). kFull: `capacity` messages already wait
  // and `msg` was dropped. kClosed: the stream is closing or closed; `msg` was dropped.
  PushResult Push(Msg msg) { return Add(std::move(msg), /*replace_newest=*/false); }

  // Like Push, but when full the newest waiting message is replaced by `msg` (kReplaced): a
  // slow client of a state stream gets the newest state, never a backlog.
  PushResult PushLatest(Msg msg) { return Add(std::move(msg), /*replace_newest=*/true); }

  // Ends the call with `status` once the waiting messages were written. Later calls (and
  // pushes) are ignored.
  void Close(grpc::Status status) {
    bool finish = false;
    {
      carp_exec::MutexLock lock(mu_);
      if (closing_) return;
      closing_ = true;
      status_ = std::move(status);
      finish = TakeFinishLocked();
    }
    if (finish) finish_(status_);
  }

  // The client is gone (OnCancel) or a write failed: drop what waits and end with CANCELLED
  // as soon as no write is in flight.
  void Abort() {
    bool finish = false;
    {
      carp_exec::MutexLock lock(mu_);
      waiting_.clear();
      if (!closing_) status_ = grpc::Status::CANCELLED;
      closing_ = true;
      SignalBacklogLocked();
      finish = TakeFinishLocked();
    }
    if (finish) finish_(status_);
  }

  // Forward the reactor's OnWriteDone(ok) here.
  void OnWriteDone(bool ok) {
    if (!ok) {
      // The client is gone: the message is lost and so is the rest.
      {
        carp_exec::MutexLock lock(mu_);
        writing_ = false;
      }
      Abort();
      return;
    }
    bool start = false;
    bool finish = false;
    {
      carp_exec::MutexLock lock(mu_);
      writing_ = false;
      start = TakeNextLocked();
      if (!start) finish = TakeFinishLocked();
      SignalBacklogLocked();
    }
    if (start) start_write_(&current_);
    if (finish) finish_(status_);
  }

  // Runs `fn` under the queue's lock unless Close/Abort was called; returns whether it ran.
  // The exec stream starts its next read this way, so no read follows Finish.
  bool RunIfOpen(absl::FunctionRef<void()> fn) {
    carp_exec::MutexLock lock(mu_);
    if (closing_) return false;
    fn();
    return true;
  }

  // Messages not yet completely written (waiting + in flight).
  size_t Queued() {
    carp_exec::MutexLock lock(mu_);
    return waiting_.size() + (writing_ ? 1 : 0);
  }
  bool closing() {
    carp_exec::MutexLock lock(mu_);
    return closing_;
  }
  size_t capacity() const { return options_.capacity; }

 private:
  static Options Normalized(Options o) {
    if (o.capacity < 1) o.capacity = 1;
    if (o.pause_at > o.capacity) o.pause_at = o.capacity;
    if (o.resume_at >= o.pause_at) o.resume_at = o.pause_at == 0 ? 0 : o.pause_at - 1;
    return o;
  }

  PushResult Add(Msg msg, bool replace_newest) {
    PushResult result = PushResult::kQueued;
    bool start = false;
    {
      carp_exec::MutexLock lock(mu_);
      if (closing_) return PushResult::kClosed;
      if (waiting_.size() >= options_.capacity) {
        if (!replace_newest) return PushResult::kFull;
        waiting_.back() = std::move(msg);
        return PushResult::kReplaced;
      }
      waiting_.push_back(std::move(msg));
      start = TakeNextLocked();
      SignalBacklogLocked();
    }
    if (start) start_write_(&current_);
    return result;
  }

  // Moves the next waiting message into current_ when no write is in flight.
  bool TakeNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || waiting_.empty() || finished_) return false;
    current_ = std::move(waiting_.front());
    waiting_.pop_front();
    writing_ = true;
    return true;
  }

  // True exactly once: closing, nothing waiting, no write in flight.
  bool TakeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!closing_ || finished_ || writing_ || !waiting_.empty()) return false;
    finished_ = true;
    return true;
  }

  void SignalBacklogLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (options_.pause_at == 0 || !on_backlog_) return;
    const size_t waiting = waiting_.size();
    if (!paused_ && waiting >= options_.pause_at && !closing_) {
      paused_ = true;
      on_backlog_(true);
    } else if (paused_ && (waiting <= options_.resume_at || closing_)) {
      paused_ = false;
      on_backlog_(false);
    }
  }

  const Options options_;
  const std::function<void(const Msg*)> start_write_;
  const std::function<void(const grpc::Status&)> finish_;
  const std::function<void(bool)> on_backlog_;

  absl::Mutex mu_;
  std::deque<Msg> waiting_ ABSL_GUARDED_BY(mu_);
  Msg current_;  // owned by the write in flight; touched only by whoever set writing_
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_;  // written under mu_ before finished_ is set, read after
};

}  // namespace carp_exec::host
