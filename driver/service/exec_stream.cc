#include "driver/service/exec_stream.h"

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "driver/host/write_queue.h"
#include "driver/log/hclog.h"
#include "driver/mutex_lock.h"
#include "driver/service/status_mapping.h"
#include "driver/tasks/exec_session.h"

namespace carp_exec::service {
namespace {

using Response = drivers::ExecTaskStreamingResponse;

// Output flow control. Each output message is one read of the child (at most 16 KiB,
// exec_io_loop.cc). At kOutputPauseAt waiting messages the session stops reading the child,
// which then blocks on its next write; below kOutputResumeAt it reads again.
constexpr size_t kOutputPauseAt = 64;
constexpr size_t kOutputResumeAt = 32;
// The hard bound (4 MiB of output): after the pause the loop may still deliver the other
// fd's chunk of the same poll round (1), the final drain after the exit (at most 1 MiB per
// fd: 2 × 64) and the closing messages (3); 256 leaves room above that sum (196).
constexpr size_t kOutputCapacity = 256;

class ExecStream final : public grpc::ServerBidiReactor<drivers::ExecTaskStreamingRequest,
                                                        drivers::ExecTaskStreamingResponse> {
 public:
  explicit ExecStream(Driver* driver)
      : driver_(driver),
        queue_(
            {.capacity = kOutputCapacity, .pause_at = kOutputPauseAt, .resume_at = kOutputResumeAt},
            [this](const Response* msg) { StartWrite(msg); },
            [this](const grpc::Status& status) { Finish(status); },
            [this](bool backlog) { OnBacklog(backlog); }) {
    StartRead(&request_);
  }

 private:
  void OnReadDone(bool ok) override {
    if (!ok) return;  // the client closed its side; output continues until the command exits
    // Taken out of request_ first: once WriteStdin returned false, on_stdin_ready may start
    // the next read into request_ from the session's thread.
    drivers::ExecTaskStreamingRequest request;
    request.Swap(&request_);
    // Reads are sequential, so only this method sets session_; the lock orders it with the
    // session's own thread and with OnCancel.
    tasks::ExecSession* session = CurrentSession();
    bool read_more = true;
    if (session == nullptr) {
      if (!Setup(request)) return;
    } else {
      if (request.has_stdin()) {
        if (!request.stdin().data().empty())
          read_more = session->WriteStdin(request.stdin().data());
        if (request.stdin().close()) session->CloseStdin();
      }
      if (request.has_tty_size() && session->tty()) {
        const absl::Status s = session->Resize({static_cast<uint16_t>(request.tty_size().height()),
                                                static_cast<uint16_t>(request.tty_size().width())});
        if (!s.ok()) log::Debug("carp_exec", "exec resize failed", {{"error", s.message()}});
      }
    }
    // Stdin flow control: while the child has kStdinPendingCap bytes to take, no read is
    // outstanding, so gRPC stops granting the client HTTP/2 window; on_stdin_ready resumes.
    if (read_more) ReadNext();
  }

  // No read may start once the stream is finishing (the command exited meanwhile); under the
  // queue's lock, so Finish cannot slip in between. gRPC never runs a reaction inside
  // StartRead.
  void ReadNext() {
    queue_.RunIfOpen([this] { StartRead(&request_); });
  }

  tasks::ExecSession* CurrentSession() {
    carp_exec::MutexLock lock(mu_);
    return session_.get();
  }

  // Returns false when the stream was finished with an error.
  bool Setup(const drivers::ExecTaskStreamingRequest& request) {
    {
      carp_exec::MutexLock lock(mu_);
      if (cancelled_) return false;  // the client is gone: start nothing
    }
    if (!request.has_setup()) {
      queue_.Close(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "exec stream: the first message must be `setup` (task_id, command)"));
      return false;
    }
    const auto& setup = request.setup();
    absl::StatusOr<tasks::ExecCommand> command =
        driver_->ExecContext(setup.task_id(), {setup.command().begin(), setup.command().end()});
    if (!command.ok()) {
      queue_.Close(ToGrpc(command.status()));
      return false;
    }
    tasks::ExecSessionOptions options;
    options.command = *std::move(command);
    options.tty = setup.tty();
    if (request.has_tty_size()) {
      options.initial_size = tasks::TerminalSize{static_cast<uint16_t>(request.tty_size().height()),
                                                 static_cast<uint16_t>(request.tty_size().width())};
    }
    absl::StatusOr<std::unique_ptr<tasks::ExecSession>> session =
        tasks::ExecSession::Start(std::move(options), Callbacks(setup.tty()));
    if (!session.ok()) {
      queue_.Close(ToGrpc(session.status()));
      return false;
    }
    carp_exec::MutexLock lock(mu_);
    session_ = *std::move(session);
    // The session may have produced output before session_ was set; a pause signalled then
    // was only recorded in output_paused_ and is applied here.
    if (output_paused_) session_->SetOutputPaused(true);
    // The client may have gone while the command was being started.
    if (cancelled_) session_->Terminate();
    return true;
  }

  tasks::ExecSessionCallbacks Callbacks(bool tty) {
    tasks::ExecSessionCallbacks callbacks;
    callbacks.on_stdout = [this](absl::string_view data) {
      Response msg;
      msg.mutable_stdout()->set_data(std::string(data));
      Send(std::move(msg));
    };
    callbacks.on_stderr = [this](absl::string_view data) {
      Response msg;
      msg.mutable_stderr()->set_data(std::string(data));
      Send(std::move(msg));
    };
    callbacks.on_stdin_ready = [this] { ReadNext(); };
    callbacks.on_exit = [this, tty](const tasks::ExecExit& exit) {
      Response out_close;
      out_close.mutable_stdout()->set_close(true);
      Send(std::move(out_close));
      if (!tty) {
        Response err_close;
        err_close.mutable_stderr()->set_close(true);
        Send(std::move(err_close));
      }
      Response exited;
      exited.set_exited(true);
      exited.mutable_result()->set_exit_code(exit.exit_code);
      exited.mutable_result()->set_signal(exit.signal);
      Send(std::move(exited));
      queue_.Close(grpc::Status::OK);
    };
    return callbacks;
  }

  void Send(Response msg) {
    if (queue_.Push(std::move(msg)) == host::WriteQueue<Response>::PushResult::kFull) {
      // Unreachable by the arithmetic above kOutputCapacity; kept loud if that changes.
      log::Warn("carp_exec", "exec stream: output dropped, the client is not reading",
                {{"queued", absl::StrCat(kOutputCapacity)}});
    }
  }

  // Runs under the queue's lock (WriteQueue's contract): only flips the session's flag.
  // ExecSession never calls back while it holds its own lock, so this order is safe.
  // The flag is kept so that Setup applies a signal that arrived before session_ was set.
  void OnBacklog(bool backlog) {
    carp_exec::MutexLock lock(mu_);
    output_paused_ = backlog;
    if (session_ != nullptr) session_->SetOutputPaused(backlog);
  }

  void OnWriteDone(bool ok) override { queue_.OnWriteDone(ok); }

  void OnCancel() override {
    // The client went away: kill the command (on_exit follows; its messages are dropped) and
    // end the call. OnCancel may run while OnReadDone is still starting the command: Setup
    // sees cancelled_ and kills it.
    {
      carp_exec::MutexLock lock(mu_);
      cancelled_ = true;
      if (session_ != nullptr) session_->Terminate();
    }
    queue_.Abort();
  }

  void OnDone() override {
    std::unique_ptr<tasks::ExecSession> session;
    {
      carp_exec::MutexLock lock(mu_);
      session = std::move(session_);
    }
    session.reset();  // joins the session's loop; its callbacks find the queue closed
    delete this;
  }

  Driver* driver_;
  drivers::ExecTaskStreamingRequest request_;  // target of the one outstanding read
  host::WriteQueue<Response> queue_;
  absl::Mutex mu_;
  // Set once by Setup (reading side); read by the session's thread and by OnCancel.
  std::unique_ptr<tasks::ExecSession> session_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // The queue's last backlog signal (OnBacklog); Setup applies it to a new session.
  bool output_paused_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerBidiReactor<drivers::ExecTaskStreamingRequest, drivers::ExecTaskStreamingResponse>*
NewExecStream(Driver* driver) {
  return new ExecStream(driver);
}

}  // namespace carp_exec::service
