#pragma once
// A server-streaming reactor that other threads push messages into, written through a
// bounded WriteQueue (driver/host/write_queue.h): one write at a time, Finish exactly once,
// at most `capacity` messages waiting.
//
// Lifetime rule for registries (hubs) that push from other threads: register the stream
// under the hub's lock, push while holding the hub's lock, and unregister in OnClosed()
// (which takes the hub's lock). OnClosed() runs in OnDone, just before the stream deletes
// itself, so a stream seen under the hub's lock is alive.

#include <cstddef>
#include <utility>

#include "driver/host/write_queue.h"
#include "grpcpp/grpcpp.h"

namespace carp_exec::host {

template <typename Msg>
class PushStream : public grpc::ServerWriteReactor<Msg> {
 public:
  using PushResult = typename WriteQueue<Msg>::PushResult;

  // Sends the headers at once, so a client sees the stream open before the first message
  // (TaskEvents may stay silent for hours). At most `capacity` messages wait for a slow client.
  explicit PushStream(size_t capacity)
      : queue_(
            {.capacity = capacity}, [this](const Msg* msg) { this->StartWrite(msg); },
            [this](const grpc::Status& status) { this->Finish(status); }) {
    this->StartSendInitialMetadata();
  }
  PushStream(const PushStream&) = delete;
  PushStream& operator=(const PushStream&) = delete;

  // Queues `msg`; see WriteQueue::Push (kFull and kClosed drop it).
  PushResult Push(Msg msg) { return queue_.Push(std::move(msg)); }
  // Queues `msg`, replacing the newest waiting message when full (state streams).
  PushResult PushLatest(Msg msg) { return queue_.PushLatest(std::move(msg)); }

  // Ends the stream with `status` after the queued messages were written.
  void Close(grpc::Status status) { queue_.Close(std::move(status)); }

  // Messages not yet completely written.
  size_t Queued() { return queue_.Queued(); }

 protected:
  ~PushStream() override = default;
  // Runs once in OnDone, before deletion: unregister from hubs here.
  virtual void OnClosed() {}

 private:
  void OnWriteDone(bool ok) override { queue_.OnWriteDone(ok); }
  void OnCancel() override { queue_.Abort(); }
  void OnDone() override {
    OnClosed();
    delete this;
  }

  WriteQueue<Msg> queue_;
};

}  // namespace carp_exec::host
