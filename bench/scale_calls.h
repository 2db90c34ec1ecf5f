#pragma once
// The RPCs scale_bench makes for each task, and the tally of their outcomes.
//
// StartTask, the one-by-one StopTask and DestroyTask are blocking calls timed by the caller's
// thread. WaitTask, the TaskStats stream and the burst of StopTask calls use gRPC's callback
// client API, so a thousand of each stay open without a thread apiece. A BenchTask must outlive
// its calls: destroy it only once CallTally::AllCallsDone() (or never, if a call is stuck).

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "nomad/driver.grpc.pb.h"
#include "tests/host/task_fixture.h"

namespace carp_exec::bench {

namespace drivers = ::hashicorp::nomad::plugins::drivers::proto;

class CallTally {
 public:
  void WaitOpened();
  void WaitDone(const grpc::Status& status, const drivers::WaitTaskResponse& response);
  void StreamOpened();
  // `index` counts the stream's messages from 0.
  void StreamMessage(const drivers::TaskStatsResponse& message, long index);
  void StreamDone(const grpc::Status& status);
  void StopSent();
  void StopDone(const grpc::Status& status, absl::Duration took);

  long stats_messages() const { return messages_.load(); }
  int waits_open();
  int streams_open();
  int stop_errors();
  std::vector<absl::Duration> burst_stop_times();

  // Each waits for its kind of call to be all completed; false on timeout.
  bool AwaitStops(absl::Time deadline);
  bool AwaitWaits(absl::Time deadline);
  bool AwaitStreams(absl::Time deadline);
  bool AwaitAll(absl::Time deadline);
  bool AllCallsDone();

  // "998 exited by SIGINT, 2 other (...)"; "1000 ended OK, 0 failed".
  std::string DescribeWaits();
  std::string DescribeStreams();

 private:
  absl::Mutex mu_;
  int waits_open_ ABSL_GUARDED_BY(mu_) = 0;
  int waits_sigint_ ABSL_GUARDED_BY(mu_) = 0;
  int waits_other_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_wait_other_ ABSL_GUARDED_BY(mu_);
  int streams_open_ ABSL_GUARDED_BY(mu_) = 0;
  int streams_ended_ok_ ABSL_GUARDED_BY(mu_) = 0;
  int streams_failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_stream_error_ ABSL_GUARDED_BY(mu_);
  int stops_open_ ABSL_GUARDED_BY(mu_) = 0;
  int stop_errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Duration> stop_times_ ABSL_GUARDED_BY(mu_);
  std::atomic<long> messages_{0};
  std::atomic<long> first_without_rss_{0};  // a stream's first message with RSS 0
  std::atomic<long> later_without_rss_{0};
};

// A TaskStats stream read with the callback API; reports to the tally until OnDone.
class StatsStream final : public grpc::ClientReadReactor<drivers::TaskStatsResponse> {
 public:
  explicit StatsStream(CallTally* tally) : tally_(tally) {}
  void Open(drivers::Driver::Stub& stub, const std::string& task_id, absl::Duration interval,
            absl::Time deadline);
  void Cancel() { context_.TryCancel(); }

 private:
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override { tally_->StreamDone(status); }

  CallTally* const tally_;
  grpc::ClientContext context_;
  drivers::TaskStatsRequest request_;
  drivers::TaskStatsResponse message_;
  long received_ = 0;
};

class BenchTask {
 public:
  explicit BenchTask(CallTally* tally) : tally_(tally), stats_(tally) {}
  BenchTask(const BenchTask&) = delete;
  BenchTask& operator=(const BenchTask&) = delete;

  drivers::TaskConfig config;
  std::unique_ptr<test_host::TaskFixture> fixture;

  // Blocking calls; each returns how long it took, or the error.
  absl::StatusOr<absl::Duration> Start(drivers::Driver::Stub& stub);
  absl::StatusOr<absl::Duration> StopNow(drivers::Driver::Stub& stub, absl::Duration kill_timeout);
  absl::StatusOr<absl::Duration> Destroy(drivers::Driver::Stub& stub);
  // Callback calls (after a successful Start), bounded by `deadline`.
  void OpenWaitAndStats(drivers::Driver::Stub& stub, absl::Time deadline);
  void StopAsync(drivers::Driver::Stub& stub, absl::Duration kill_timeout);

  // Cancels whatever callback calls are still open (their callbacks still run).
  void CancelCalls();

  bool started() const { return started_; }

 private:
  CallTally* const tally_;
  bool started_ = false;
  grpc::ClientContext wait_context_;
  drivers::WaitTaskRequest wait_request_;
  drivers::WaitTaskResponse wait_response_;
  StatsStream stats_;
  grpc::ClientContext stop_context_;
  drivers::StopTaskRequest stop_request_;
  drivers::StopTaskResponse stop_response_;
  absl::Time stop_sent_;
};

}  // namespace carp_exec::bench
