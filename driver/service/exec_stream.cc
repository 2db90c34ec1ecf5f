#include "driver/service/exec_stream.h"

#include <deque>
#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "driver/log/hclog.h"
#include "driver/service/status_mapping.h"
#include "driver/tasks/exec_session.h"

namespace carp_exec::service {
namespace {

// Output queued beyond this pauses reading from the child until the client catches up.
constexpr size_t kPauseAtQueued = 64;

class ExecStream final : public grpc::ServerBidiReactor<drivers::ExecTaskStreamingRequest,
                                                        drivers::ExecTaskStreamingResponse> {
 public:
  explicit ExecStream(Driver* driver) : driver_(driver) { StartRead(&request_); }

 private:
  void OnReadDone(bool ok) override {
    if (!ok) return;  // the client closed its side; output continues until the command exits
    // Reads are sequential, so only this method sets session_; the lock orders it with the
    // session's own thread (Send) and with OnCancel.
    tasks::ExecSession* session = CurrentSession();
    if (session == nullptr) {
      if (!Setup()) return;
    } else {
      if (request_.has_stdin()) {
        if (!request_.stdin().data().empty()) session->WriteStdin(request_.stdin().data());
        if (request_.stdin().close()) session->CloseStdin();
      }
      if (request_.has_tty_size() && session->tty()) {
        const absl::Status s =
            session->Resize({static_cast<uint16_t>(request_.tty_size().height()),
                             static_cast<uint16_t>(request_.tty_size().width())});
        if (!s.ok()) log::Debug("carp_exec", "exec resize failed", {{"error", s.message()}});
      }
    }
    request_.Clear();
    // No read may start once the stream is finished (the command exited meanwhile). Under the
    // lock, so Finish cannot slip in between; gRPC never runs a reaction inside StartRead.
    absl::MutexLock lock(&mu_);
    if (!finishing_) StartRead(&request_);
  }

  tasks::ExecSession* CurrentSession() {
    absl::MutexLock lock(&mu_);
    return session_.get();
  }

  // Returns false when the stream was finished with an error.
  bool Setup() {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_ || cancelled_) return false;  // the client is gone: start nothing
    }
    if (!request_.has_setup()) {
      FinishNow(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                             "exec stream: the first message must be `setup` (task_id, command)"));
      return false;
    }
    const auto& setup = request_.setup();
    absl::StatusOr<tasks::ExecCommand> command =
        driver_->ExecContext(setup.task_id(), {setup.command().begin(), setup.command().end()});
    if (!command.ok()) {
      FinishNow(ToGrpc(command.status()));
      return false;
    }
    tasks::ExecSessionOptions options;
    options.command = *std::move(command);
    options.tty = setup.tty();
    if (request_.has_tty_size()) {
      options.initial_size =
          tasks::TerminalSize{static_cast<uint16_t>(request_.tty_size().height()),
                              static_cast<uint16_t>(request_.tty_size().width())};
    }
    tasks::ExecSessionCallbacks callbacks;
    callbacks.on_stdout = [this](absl::string_view data) {
      drivers::ExecTaskStreamingResponse msg;
      msg.mutable_stdout()->set_data(std::string(data));
      Send(std::move(msg));
    };
    callbacks.on_stderr = [this](absl::string_view data) {
      drivers::ExecTaskStreamingResponse msg;
      msg.mutable_stderr()->set_data(std::string(data));
      Send(std::move(msg));
    };
    const bool tty = setup.tty();
    callbacks.on_exit = [this, tty](const tasks::ExecExit& exit) {
      drivers::ExecTaskStreamingResponse out_close;
      out_close.mutable_stdout()->set_close(true);
      Send(std::move(out_close));
      if (!tty) {
        drivers::ExecTaskStreamingResponse err_close;
        err_close.mutable_stderr()->set_close(true);
        Send(std::move(err_close));
      }
      drivers::ExecTaskStreamingResponse exited;
      exited.set_exited(true);
      exited.mutable_result()->set_exit_code(exit.exit_code);
      exited.mutable_result()->set_signal(exit.signal);
      Send(std::move(exited));
      CloseAfterWrites(grpc::Status::OK);
    };
    absl::StatusOr<std::unique_ptr<tasks::ExecSession>> session =
        tasks::ExecSession::Start(std::move(options), std::move(callbacks));
    if (!session.ok()) {
      FinishNow(ToGrpc(session.status()));
      return false;
    }
    absl::MutexLock lock(&mu_);
    session_ = *std::move(session);
    // The client may have gone while the command was being started.
    if (cancelled_) session_->Terminate();
    return true;
  }

  void Send(drivers::ExecTaskStreamingResponse msg) {
    bool start = false;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      queue_.push_back(std::move(msg));
      if (!writing_) {
        writing_ = start = true;
        current_ = std::move(queue_.front());
        queue_.pop_front();
      }
      // ExecSession never calls back while it holds its own lock, so this order is safe.
      if (queue_.size() >= kPauseAtQueued && !paused_ && session_ != nullptr) {
        paused_ = true;
        session_->SetOutputPaused(true);
      }
    }
    if (start) StartWrite(&current_);
  }

  void OnWriteDone(bool ok) override {
    bool start = false;
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        queue_.clear();
        close_when_drained_ = true;
        close_status_ = grpc::Status::CANCELLED;
      }
      if (!queue_.empty()) {
        current_ = std::move(queue_.front());
        queue_.pop_front();
        start = true;
      } else {
        writing_ = false;
        if (close_when_drained_ && !finishing_) finishing_ = finish = true;
      }
      if (paused_ && queue_.size() < kPauseAtQueued / 2) {
        paused_ = false;
        if (session_ != nullptr) session_->SetOutputPaused(false);
      }
    }
    if (start) StartWrite(&current_);
    if (finish) Finish(close_status_);
  }

  void CloseAfterWrites(grpc::Status status) {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_ || close_when_drained_) return;
      close_when_drained_ = true;
      close_status_ = std::move(status);
      if (!writing_) finishing_ = finish = true;
    }
    if (finish) Finish(close_status_);
  }

  void FinishNow(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      finishing_ = true;
    }
    Finish(std::move(status));
  }

  void OnCancel() override {
    // The client went away: kill the command; on_exit then closes the stream. OnCancel may run
    // while OnReadDone is still starting the command: Setup sees cancelled_ and kills it.
    bool have_session;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      have_session = session_ != nullptr;
      if (have_session) session_->Terminate();
    }
    if (have_session) {
      CloseAfterWrites(grpc::Status::CANCELLED);
    } else {
      FinishNow(grpc::Status::CANCELLED);
    }
  }

  void OnDone() override {
    std::unique_ptr<tasks::ExecSession> session;
    {
      absl::MutexLock lock(&mu_);
      session = std::move(session_);
    }
    session.reset();  // joins the session's loop; its callbacks see finishing_ and drop output
    delete this;
  }

  Driver* driver_;
  drivers::ExecTaskStreamingRequest request_;
  drivers::ExecTaskStreamingResponse current_;
  absl::Mutex mu_;
  // Set once by Setup (reading side); read by the session's thread and by OnCancel.
  std::unique_ptr<tasks::ExecSession> session_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<drivers::ExecTaskStreamingResponse> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool close_when_drained_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status close_status_;
};

}  // namespace

grpc::ServerBidiReactor<drivers::ExecTaskStreamingRequest, drivers::ExecTaskStreamingResponse>*
NewExecStream(Driver* driver) {
  return new ExecStream(driver);
}

}  // namespace carp_exec::service
