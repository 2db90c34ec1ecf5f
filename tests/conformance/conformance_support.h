#pragma once
// Shared steps of the conformance tests: the calls the Nomad agent and client make around the
// RPC under test (schemas, SetConfig as in each start-up launch, Init), a temporary directory,
// and a bounded reader for server streams (Fingerprint, TaskEvents, TaskStats).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "driver/config/cty_value.h"
#include "driver/mutex_lock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/sync_stream.h"
#include "tests/host/nomad_config.h"
#include "tests/host/plugin_process.h"
#include "tests/host/plugin_setup.h"

namespace carp_exec::conformance {

using config::CtyValue;
using test_host::PluginProcess;
using test_host::base_proto::PluginInfoResponse;
namespace drivers = ::hashicorp::nomad::plugins::drivers::proto;
namespace base = ::hashicorp::nomad::plugins::base::proto;
namespace hclspec = ::hashicorp::nomad::plugins::shared::hclspec;

// The default deadline for a unary test RPC. Nomad sets none; tests must never hang.
inline constexpr absl::Duration kRpcTimeout = absl::Seconds(20);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The set-up calls (tests/host/plugin_setup.h), shared with the benchmarks.
using test_host::ConfigureLikeDriverManager;
using test_host::FetchConfigSchema;
using test_host::FetchTaskConfigSchema;
using test_host::NomadClientConfig;
using test_host::SetConfig;

// Encodes a task `config {}` through the plugin's TaskConfigSchema.
absl::StatusOr<std::string> EncodeTaskConfig(PluginProcess& plugin, const CtyValue& user_config);

// Reads a server stream on a thread. Every wait takes a deadline; destruction cancels the
// call and joins the thread, so a stream that never ends cannot hang a test.
template <typename Response>
class StreamReader {
 public:
  using Opener = std::function<std::unique_ptr<grpc::ClientReader<Response>>(grpc::ClientContext*)>;

  explicit StreamReader(Opener open, absl::Duration limit = absl::Minutes(5)) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + limit));
    thread_ = std::thread([this, open = std::move(open)] {
      std::unique_ptr<grpc::ClientReader<Response>> reader = open(&context_);
      // The plugin sends its headers when it opens a stream, so this marks "open on the plugin".
      reader->WaitForInitialMetadata();
      {
        carp_exec::MutexLock lock(mu_);
        established_ = true;
      }
      Response message;
      while (reader->Read(&message)) {
        carp_exec::MutexLock lock(mu_);
        messages_.push_back(message);
        arrival_.push_back(absl::Now());
      }
      grpc::Status status = reader->Finish();
      carp_exec::MutexLock lock(mu_);
      final_status_ = status;
    });
  }
  ~StreamReader() {
    context_.TryCancel();
    thread_.join();
  }
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  // True once the plugin has opened the stream (its headers arrived) or the stream ended.
  bool WaitEstablished(absl::Time deadline) {
    carp_exec::MutexLock lock(mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return established_ || final_status_.has_value();
    };
    return mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  }

  // Waits for message number `index` (0-based); nullopt if the stream ended or time ran out.
  std::optional<Response> WaitForMessage(size_t index, absl::Time deadline) {
    carp_exec::MutexLock lock(mu_);
    auto ready = [this, index]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return messages_.size() > index || final_status_.has_value();
    };
    mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    if (messages_.size() > index) return messages_[index];
    return std::nullopt;
  }
  // When message `index` arrived (valid once WaitForMessage returned it).
  absl::Time ArrivalTime(size_t index) {
    carp_exec::MutexLock lock(mu_);
    return arrival_.at(index);
  }
  // Waits for the stream to end; the final status, or nullopt if it is still open.
  std::optional<grpc::Status> WaitForEnd(absl::Time deadline) {
    carp_exec::MutexLock lock(mu_);
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return final_status_.has_value(); };
    mu_.AwaitWithDeadline(absl::Condition(&ended), deadline);
    return final_status_;
  }
  std::vector<Response> Messages() {
    carp_exec::MutexLock lock(mu_);
    return messages_;
  }
  // Waits for the first message satisfying `match`.
  std::optional<Response> WaitFor(std::function<bool(const Response&)> match, absl::Time deadline) {
    carp_exec::MutexLock lock(mu_);
    size_t checked = 0;
    std::optional<Response> found;
    auto scan = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (; checked < messages_.size(); ++checked) {
        if (match(messages_[checked])) {
          found = messages_[checked];
          return true;
        }
      }
      return final_status_.has_value();
    };
    mu_.AwaitWithDeadline(absl::Condition(&scan), deadline);
    return found;
  }

 private:
  grpc::ClientContext context_;
  std::thread thread_;
  absl::Mutex mu_;
  bool established_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Response> messages_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> arrival_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> final_status_ ABSL_GUARDED_BY(mu_);
};

// Every stderr line the plugin wrote, checked as an hclog entry; returns the failures.
std::vector<std::string> InvalidHclogLines(const PluginProcess& plugin);

}  // namespace carp_exec::conformance
