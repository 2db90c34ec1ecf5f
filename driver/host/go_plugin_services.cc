#include "driver/host/go_plugin_services.h"

#include "driver/host/plugin_host.h"
#include "driver/host/push_stream.h"
#include "driver/log/hclog.h"
#include "driver/mutex_lock.h"

namespace carp_exec::host {

// Shutdown replies first, then wakes PluginHost::Run(), which stops serving and exits.
// It never touches tasks: they outlive the plugin.
class GoPluginServices::Controller final : public plugin::GRPCController::CallbackService {
 public:
  grpc::ServerUnaryReactor* Shutdown(grpc::CallbackServerContext* ctx, const plugin::Empty*,
                                     plugin::Empty*) override {
    log::Debug("carp_exec", "controller shutdown requested by the host");
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    PluginHost::RequestShutdown();
    return reactor;
  }
};

// Go plugins forward their own stdout/stderr here. Ours never write to stdout after the
// handshake and log to stderr directly, so the stream stays open and empty until closed.
class GoPluginServices::Stdio final : public plugin::GRPCStdio::CallbackService {
 public:
  class Stream final : public PushStream<plugin::StdioData> {
   public:
    // Nothing is ever pushed; the smallest queue will do.
    explicit Stream(Stdio* owner) : PushStream(1), owner_(owner) {}

   private:
    void OnClosed() override {
      carp_exec::MutexLock lock(owner_->mu_);
      owner_->open_.erase(this);
    }
    Stdio* owner_;
  };

  grpc::ServerWriteReactor<plugin::StdioData>* StreamStdio(
      grpc::CallbackServerContext*, const google::protobuf::Empty*) override {
    auto* stream = new Stream(this);
    carp_exec::MutexLock lock(mu_);
    if (closed_) {
      stream->Close(grpc::Status::OK);
    } else {
      open_.insert(stream);
    }
    return stream;
  }

  void CloseAll() {
    carp_exec::MutexLock lock(mu_);
    closed_ = true;
    for (Stream* s : open_) s->Close(grpc::Status::OK);
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_set<Stream*> open_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// Driver plugins never broker connections; the host opens this stream in the background and
// ignores its failure. Read and drop whatever arrives until the host or the server ends it.
class GoPluginServices::Broker final : public plugin::GRPCBroker::CallbackService {
 public:
  class Stream final : public grpc::ServerBidiReactor<plugin::ConnInfo, plugin::ConnInfo> {
   public:
    explicit Stream(Broker* owner) : owner_(owner) { StartRead(&in_); }
    void End() {
      {
        carp_exec::MutexLock lock(mu_);
        if (finished_) return;
        finished_ = true;
      }
      Finish(grpc::Status::OK);
    }

   private:
    void OnReadDone(bool ok) override {
      if (ok) {
        StartRead(&in_);
      } else {
        End();
      }
    }
    void OnCancel() override { End(); }
    void OnDone() override {
      {
        carp_exec::MutexLock lock(owner_->mu_);
        owner_->open_.erase(this);
      }
      delete this;
    }
    Broker* owner_;
    plugin::ConnInfo in_;
    absl::Mutex mu_;
    bool finished_ ABSL_GUARDED_BY(mu_) = false;
  };

  grpc::ServerBidiReactor<plugin::ConnInfo, plugin::ConnInfo>* StartStream(
      grpc::CallbackServerContext*) override {
    auto* stream = new Stream(this);
    carp_exec::MutexLock lock(mu_);
    open_.insert(stream);
    return stream;
  }

  void CloseAll() {
    carp_exec::MutexLock lock(mu_);
    for (Stream* s : open_) s->End();
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_set<Stream*> open_ ABSL_GUARDED_BY(mu_);
};

GoPluginServices::GoPluginServices()
    : controller_(std::make_unique<Controller>()),
      stdio_(std::make_unique<Stdio>()),
      broker_(std::make_unique<Broker>()) {}

GoPluginServices::~GoPluginServices() = default;

void GoPluginServices::RegisterWith(grpc::ServerBuilder& builder) {
  builder.RegisterService(controller_.get());
  builder.RegisterService(stdio_.get());
  builder.RegisterService(broker_.get());
}

void GoPluginServices::CloseStreams() {
  stdio_->CloseAll();
  broker_->CloseAll();
}

}  // namespace carp_exec::host
