// WriteQueue (driver/host/write_queue.h), the one write path of every server stream: one
// write at a time, Finish exactly once and never with a write in flight, and a bound that a
// client who stops reading cannot push past. Driven without gRPC: a fake call records what
// the queue asks of it and completes writes when the test says so.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "driver/host/write_queue.h"
#include "driver/mutex_lock.h"
#include "gtest/gtest.h"

namespace carp_exec::host {
namespace {

using Queue = WriteQueue<std::string>;
using PushResult = Queue::PushResult;

// Stands in for a reactor: StartWrite and Finish calls, in order.
class FakeCall {
 public:
  std::function<void(const std::string*)> StartWrite() {
    return [this](const std::string* msg) {
      carp_exec::MutexLock lock(mu_);
      EXPECT_FALSE(in_flight_) << "a second write started before the first completed";
      EXPECT_FALSE(finished_) << "a write started after Finish";
      in_flight_ = true;
      written_.push_back(*msg);
    };
  }
  std::function<void(const grpc::Status&)> Finish() {
    return [this](const grpc::Status& status) {
      carp_exec::MutexLock lock(mu_);
      EXPECT_FALSE(in_flight_) << "Finish while a write was in flight";
      ++finishes_;
      finished_ = true;
      status_ = status;
    };
  }
  // Completes the write in flight, like gRPC's OnWriteDone. Returns false when none was.
  bool CompleteWrite(Queue& queue, bool ok = true) {
    {
      carp_exec::MutexLock lock(mu_);
      if (!in_flight_) return false;
      in_flight_ = false;
    }
    queue.OnWriteDone(ok);
    return true;
  }
  std::vector<std::string> written() {
    carp_exec::MutexLock lock(mu_);
    return written_;
  }
  int finishes() {
    carp_exec::MutexLock lock(mu_);
    return finishes_;
  }
  grpc::StatusCode code() {
    carp_exec::MutexLock lock(mu_);
    return status_.error_code();
  }

 private:
  absl::Mutex mu_;
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  int finishes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> written_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

TEST(StreamWriteQueueTest, WritesOneAtATimeInOrder) {
  FakeCall call;
  Queue queue({.capacity = 8}, call.StartWrite(), call.Finish());
  for (const char* m : {"a", "b", "c"}) EXPECT_EQ(queue.Push(m), PushResult::kQueued);
  EXPECT_EQ(call.written(), std::vector<std::string>({"a"}));
  EXPECT_EQ(queue.Queued(), 3u);
  while (call.CompleteWrite(queue)) {
  }
  EXPECT_EQ(call.written(), std::vector<std::string>({"a", "b", "c"}));
  EXPECT_EQ(queue.Queued(), 0u);
}

TEST(StreamWriteQueueTest, AClientThatStopsReadingCannotGrowTheQueuePastItsCapacity) {
  FakeCall call;
  Queue queue({.capacity = 4}, call.StartWrite(), call.Finish());
  int refused = 0;
  for (int i = 0; i < 10000; ++i) {
    if (queue.Push(std::to_string(i)) == PushResult::kFull) ++refused;
  }
  // One in flight (never completed: the client does not read) plus four waiting.
  EXPECT_EQ(queue.Queued(), 5u);
  EXPECT_EQ(refused, 10000 - 5);
  while (call.CompleteWrite(queue)) {
  }
  EXPECT_EQ(call.written(), std::vector<std::string>({"0", "1", "2", "3", "4"}));
}

TEST(StreamWriteQueueTest, PushLatestKeepsTheNewestStateInsteadOfABacklog) {
  FakeCall call;
  Queue queue({.capacity = 1}, call.StartWrite(), call.Finish());
  EXPECT_EQ(queue.PushLatest("s1"), PushResult::kQueued);  // written at once
  EXPECT_EQ(queue.PushLatest("s2"), PushResult::kQueued);  // waits
  EXPECT_EQ(queue.PushLatest("s3"), PushResult::kReplaced);
  EXPECT_EQ(queue.PushLatest("s4"), PushResult::kReplaced);
  while (call.CompleteWrite(queue)) {
  }
  EXPECT_EQ(call.written(), std::vector<std::string>({"s1", "s4"}));
}

TEST(StreamWriteQueueTest, CloseFinishesOnceAfterTheWaitingMessagesWereWritten) {
  FakeCall call;
  Queue queue({.capacity = 8}, call.StartWrite(), call.Finish());
  queue.Push("a");
  queue.Push("b");
  queue.Close(grpc::Status::OK);
  queue.Close(grpc::Status(grpc::StatusCode::INTERNAL, "second close is ignored"));
  EXPECT_EQ(call.finishes(), 0) << "finished with a write in flight";
  EXPECT_EQ(queue.Push("late"), PushResult::kClosed);
  while (call.CompleteWrite(queue)) {
  }
  EXPECT_EQ(call.written(), std::vector<std::string>({"a", "b"}));
  EXPECT_EQ(call.finishes(), 1);
  EXPECT_EQ(call.code(), grpc::StatusCode::OK);
}

TEST(StreamWriteQueueTest, CloseOfAnIdleQueueFinishesAtOnce) {
  FakeCall call;
  Queue queue({.capacity = 8}, call.StartWrite(), call.Finish());
  queue.Close(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad setup"));
  EXPECT_EQ(call.finishes(), 1);
  EXPECT_EQ(call.code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(StreamWriteQueueTest, AbortDropsWhatWaitsAndFinishesCancelledAfterTheWriteInFlight) {
  FakeCall call;
  Queue queue({.capacity = 8}, call.StartWrite(), call.Finish());
  for (const char* m : {"a", "b", "c"}) queue.Push(m);
  queue.Abort();
  EXPECT_EQ(call.finishes(), 0);
  EXPECT_TRUE(call.CompleteWrite(queue));
  EXPECT_FALSE(call.CompleteWrite(queue)) << "dropped messages were still written";
  EXPECT_EQ(call.written(), std::vector<std::string>({"a"}));
  EXPECT_EQ(call.finishes(), 1);
  EXPECT_EQ(call.code(), grpc::StatusCode::CANCELLED);
}

TEST(StreamWriteQueueTest, AFailedWriteEndsTheStreamCancelled) {
  FakeCall call;
  Queue queue({.capacity = 8}, call.StartWrite(), call.Finish());
  queue.Push("a");
  queue.Push("b");
  EXPECT_TRUE(call.CompleteWrite(queue, /*ok=*/false));
  EXPECT_EQ(call.written(), std::vector<std::string>({"a"}));
  EXPECT_EQ(call.finishes(), 1);
  EXPECT_EQ(call.code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(queue.Push("c"), PushResult::kClosed);
}

TEST(StreamWriteQueueTest, BacklogPausesAtTheMarkAndResumesOnceDrained) {
  FakeCall call;
  std::vector<bool> signals;
  Queue queue({.capacity = 10, .pause_at = 4, .resume_at = 1}, call.StartWrite(), call.Finish(),
              [&signals](bool backlog) { signals.push_back(backlog); });
  for (int i = 0; i < 5; ++i) queue.Push(std::to_string(i));  // 1 in flight, 4 waiting
  EXPECT_EQ(signals, std::vector<bool>({true}));
  call.CompleteWrite(queue);  // 3 waiting
  call.CompleteWrite(queue);  // 2
  EXPECT_EQ(signals, std::vector<bool>({true}));
  call.CompleteWrite(queue);  // 1: resume
  EXPECT_EQ(signals, std::vector<bool>({true, false}));
  queue.Push("x");
  queue.Push("y");
  queue.Push("z");  // 4 waiting again
  EXPECT_EQ(signals, std::vector<bool>({true, false, true}));
  queue.Abort();  // a closed stream must not leave its producer paused
  EXPECT_EQ(signals, std::vector<bool>({true, false, true, false}));
}

TEST(StreamWriteQueueTest, RunIfOpenRefusesOnceClosing) {
  FakeCall call;
  Queue queue({.capacity = 8}, call.StartWrite(), call.Finish());
  int ran = 0;
  EXPECT_TRUE(queue.RunIfOpen([&ran] { ++ran; }));
  queue.Close(grpc::Status::OK);
  EXPECT_FALSE(queue.RunIfOpen([&ran] { ++ran; }));
  EXPECT_EQ(ran, 1);
}

// Producers on several threads against a consumer completing writes: never more than
// capacity + 1 outstanding, every accepted message written once, Finish exactly once.
TEST(StreamWriteQueueTest, ConcurrentProducersStayBoundedAndFinishOnce) {
  FakeCall call;
  constexpr size_t kCapacity = 16;
  Queue queue({.capacity = kCapacity}, call.StartWrite(), call.Finish());
  std::atomic<int> accepted{0};
  std::atomic<bool> producing{true};
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        if (queue.Push(absl::StrCat(t, "-", i)) == PushResult::kQueued) ++accepted;
      }
    });
  }
  std::thread consumer([&] {
    while (producing || call.CompleteWrite(queue)) {
      EXPECT_LE(queue.Queued(), kCapacity + 1);
      call.CompleteWrite(queue);
    }
  });
  for (std::thread& p : producers) p.join();
  queue.Close(grpc::Status::OK);
  producing = false;
  consumer.join();
  while (call.CompleteWrite(queue)) {
  }
  EXPECT_EQ(call.written().size(), static_cast<size_t>(accepted.load()));
  EXPECT_EQ(call.finishes(), 1);
}

}  // namespace
}  // namespace carp_exec::host
