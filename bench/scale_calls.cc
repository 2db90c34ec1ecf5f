#include "bench/scale_calls.h"

#include <csignal>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "driver/mutex_lock.h"
#include "tests/host/plugin_process.h"

namespace carp_exec::bench {
namespace {

google::protobuf::Duration ToProto(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out.set_seconds(nanos / 1000000000);
  out.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return out;
}

bool AwaitZero(absl::Mutex* mu, const int* counter,
               absl::Time deadline) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  carp_exec::MutexLock lock(*mu);
  auto zero = [counter] { return *counter == 0; };
  return mu->AwaitWithDeadline(absl::Condition(&zero), deadline);
}

}  // namespace

void CallTally::WaitOpened() {
  carp_exec::MutexLock lock(mu_);
  ++waits_open_;
}

void CallTally::WaitDone(const grpc::Status& status, const drivers::WaitTaskResponse& response) {
  carp_exec::MutexLock lock(mu_);
  --waits_open_;
  if (status.ok() && response.err().empty() && response.result().signal() == SIGINT) {
    ++waits_sigint_;
    return;
  }
  if (waits_other_++ == 0) {
    first_wait_other_ =
        status.ok() ? absl::StrCat("exit code ", response.result().exit_code(), " signal ",
                                   response.result().signal(), " err \"", response.err(), "\"")
                    : absl::StrCat("status ", status.error_code(), ": ", status.error_message());
  }
}

void CallTally::StreamOpened() {
  carp_exec::MutexLock lock(mu_);
  ++streams_open_;
}

void CallTally::StreamMessage(const drivers::TaskStatsResponse& message, long index) {
  ++messages_;
  if (message.stats().agg_resource_usage().memory().rss() != 0) return;
  ++(index == 0 ? first_without_rss_ : later_without_rss_);
}

void CallTally::StreamDone(const grpc::Status& status) {
  carp_exec::MutexLock lock(mu_);
  --streams_open_;
  // A stream ends when its task has exited: OK or NotFound/FailedPrecondition are both the
  // plugin's way of saying "no more stats"; transport errors and CANCELLED are not.
  const grpc::StatusCode code = status.error_code();
  if (code == grpc::StatusCode::OK || code == grpc::StatusCode::NOT_FOUND ||
      code == grpc::StatusCode::FAILED_PRECONDITION) {
    ++streams_ended_ok_;
    return;
  }
  if (streams_failed_++ == 0) {
    first_stream_error_ = absl::StrCat("status ", code, ": ", status.error_message());
  }
}

void CallTally::StopSent() {
  carp_exec::MutexLock lock(mu_);
  ++stops_open_;
}

void CallTally::StopDone(const grpc::Status& status, absl::Duration took) {
  carp_exec::MutexLock lock(mu_);
  --stops_open_;
  if (status.ok()) {
    stop_times_.push_back(took);
  } else {
    ++stop_errors_;
  }
}

int CallTally::waits_open() {
  carp_exec::MutexLock lock(mu_);
  return waits_open_;
}

int CallTally::streams_open() {
  carp_exec::MutexLock lock(mu_);
  return streams_open_;
}

int CallTally::stop_errors() {
  carp_exec::MutexLock lock(mu_);
  return stop_errors_;
}

std::vector<absl::Duration> CallTally::burst_stop_times() {
  carp_exec::MutexLock lock(mu_);
  return stop_times_;
}

bool CallTally::AwaitStops(absl::Time deadline) { return AwaitZero(&mu_, &stops_open_, deadline); }
bool CallTally::AwaitWaits(absl::Time deadline) { return AwaitZero(&mu_, &waits_open_, deadline); }
bool CallTally::AwaitStreams(absl::Time deadline) {
  return AwaitZero(&mu_, &streams_open_, deadline);
}
bool CallTally::AwaitAll(absl::Time deadline) {
  return AwaitStops(deadline) && AwaitWaits(deadline) && AwaitStreams(deadline);
}
bool CallTally::AllCallsDone() { return AwaitAll(absl::Now()); }

std::string CallTally::DescribeWaits() {
  carp_exec::MutexLock lock(mu_);
  std::string out = absl::StrCat(waits_sigint_, " exited by SIGINT, ", waits_other_, " other");
  if (waits_other_ > 0) absl::StrAppend(&out, " (first: ", first_wait_other_, ")");
  if (waits_open_ > 0) absl::StrAppend(&out, ", ", waits_open_, " STILL OPEN");
  return out;
}

std::string CallTally::DescribeStreams() {
  carp_exec::MutexLock lock(mu_);
  std::string out =
      absl::StrCat(messages_.load(), " messages (RSS 0 in ", first_without_rss_.load(),
                   " first messages and ", later_without_rss_.load(), " later ones), ",
                   streams_ended_ok_, " ended after the exit, ", streams_failed_, " failed");
  if (streams_failed_ > 0) absl::StrAppend(&out, " (first: ", first_stream_error_, ")");
  if (streams_open_ > 0) absl::StrAppend(&out, ", ", streams_open_, " STILL OPEN");
  return out;
}

void StatsStream::Open(drivers::Driver::Stub& stub, const std::string& task_id,
                       absl::Duration interval, absl::Time deadline) {
  request_.set_task_id(task_id);
  *request_.mutable_collection_interval() = ToProto(interval);
  context_.set_deadline(absl::ToChronoTime(deadline));
  tally_->StreamOpened();
  stub.async()->TaskStats(&context_, &request_, this);
  StartRead(&message_);
  StartCall();
}

void StatsStream::OnReadDone(bool ok) {
  if (!ok) return;  // OnDone follows
  tally_->StreamMessage(message_, received_++);
  StartRead(&message_);
}

absl::StatusOr<absl::Duration> BenchTask::Start(drivers::Driver::Stub& stub) {
  drivers::StartTaskRequest request;
  *request.mutable_task() = config;
  drivers::StartTaskResponse response;
  grpc::ClientContext context;
  test_host::SetDeadline(&context, absl::Seconds(60));
  const absl::Time began = absl::Now();
  const grpc::Status status = stub.StartTask(&context, request, &response);
  const absl::Duration took = absl::Now() - began;
  if (!status.ok()) return test_host::ToStatus(status, absl::StrCat("StartTask ", config.id()));
  started_ = true;
  return took;
}

void BenchTask::OpenWaitAndStats(drivers::Driver::Stub& stub, absl::Time deadline) {
  wait_request_.set_task_id(config.id());
  wait_context_.set_deadline(absl::ToChronoTime(deadline));
  tally_->WaitOpened();
  stub.async()->WaitTask(&wait_context_, &wait_request_, &wait_response_,
                         [this](grpc::Status status) { tally_->WaitDone(status, wait_response_); });
  stats_.Open(stub, config.id(), absl::Seconds(1), deadline);
}

absl::StatusOr<absl::Duration> BenchTask::StopNow(drivers::Driver::Stub& stub,
                                                  absl::Duration kill_timeout) {
  drivers::StopTaskRequest request;
  request.set_task_id(config.id());
  *request.mutable_timeout() = ToProto(kill_timeout);  // no signal: the plugin sends SIGINT
  drivers::StopTaskResponse response;
  grpc::ClientContext context;
  test_host::SetDeadline(&context, kill_timeout + absl::Seconds(60));
  const absl::Time began = absl::Now();
  const grpc::Status status = stub.StopTask(&context, request, &response);
  const absl::Duration took = absl::Now() - began;
  if (!status.ok()) return test_host::ToStatus(status, absl::StrCat("StopTask ", config.id()));
  return took;
}

void BenchTask::StopAsync(drivers::Driver::Stub& stub, absl::Duration kill_timeout) {
  stop_request_.set_task_id(config.id());
  *stop_request_.mutable_timeout() = ToProto(kill_timeout);
  test_host::SetDeadline(&stop_context_, kill_timeout + absl::Minutes(2));
  tally_->StopSent();
  stop_sent_ = absl::Now();
  stub.async()->StopTask(
      &stop_context_, &stop_request_, &stop_response_,
      [this](grpc::Status status) { tally_->StopDone(status, absl::Now() - stop_sent_); });
}

void BenchTask::CancelCalls() {
  wait_context_.TryCancel();
  stats_.Cancel();
  stop_context_.TryCancel();
}

absl::StatusOr<absl::Duration> BenchTask::Destroy(drivers::Driver::Stub& stub) {
  drivers::DestroyTaskRequest request;
  request.set_task_id(config.id());
  request.set_force(true);  // as the Nomad client's cleanup does
  drivers::DestroyTaskResponse response;
  grpc::ClientContext context;
  test_host::SetDeadline(&context, absl::Seconds(60));
  const absl::Time began = absl::Now();
  const grpc::Status status = stub.DestroyTask(&context, request, &response);
  const absl::Duration took = absl::Now() - began;
  if (!status.ok()) return test_host::ToStatus(status, absl::StrCat("DestroyTask ", config.id()));
  return took;
}

}  // namespace carp_exec::bench
