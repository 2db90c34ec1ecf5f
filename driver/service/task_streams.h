#pragma once
// The plugin's long-lived server streams: Fingerprint, TaskEvents and TaskStats.
//
// Nomad reopens Fingerprint and TaskEvents at once when they end (a tight loop with warnings),
// so they stay open until the plugin stops. One TimerQueue thread drives every periodic send
// (fingerprint checks each second, a resend at least every 30 s; each TaskStats stream at its
// own interval); events are pushed from the failover and task threads.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "driver/driver.h"
#include "driver/failover/failover_event.h"
#include "driver/host/push_stream.h"
#include "driver/tasks/timer_queue.h"
#include "nomad/driver.grpc.pb.h"

namespace carp_exec::service {

namespace drivers = hashicorp::nomad::plugins::drivers::proto;

class TaskStreams final : public failover::EventSink {
 public:
  // `driver` must outlive this object.
  explicit TaskStreams(Driver* driver);
  ~TaskStreams() override;
  TaskStreams(const TaskStreams&) = delete;
  TaskStreams& operator=(const TaskStreams&) = delete;

  grpc::ServerWriteReactor<drivers::FingerprintResponse>* OpenFingerprint();
  grpc::ServerWriteReactor<drivers::DriverTaskEvent>* OpenEvents();
  grpc::ServerWriteReactor<drivers::TaskStatsResponse>* OpenStats(const std::string& task_id,
                                                                  absl::Duration interval);

  // failover::EventSink: every event goes to every open TaskEvents stream and to the log.
  void Emit(const failover::FailoverEvent& event) override;

  // Ends every stream (plugin shutdown) and stops the timer thread.
  void CloseAll();

  // How often the fingerprint is re-checked, and the longest time between two sends.
  static constexpr absl::Duration kFingerprintCheck = absl::Seconds(1);
  static constexpr absl::Duration kFingerprintResend = absl::Seconds(30);

  // Messages waiting for a client that does not read. Fingerprint and TaskStats carry a
  // state: one waits besides the one being written, and a newer one replaces it.
  static constexpr size_t kStateBacklog = 1;
  // TaskEvents carry a history: Nomad reads them as they come, so 1,024 waiting events (a few
  // hundred KiB) mean a stuck client; further events are dropped for it (and logged).
  static constexpr size_t kEventBacklog = 1024;

 private:
  template <typename Msg>
  class HubStream;
  using StreamId = uint64_t;

  void FingerprintTick();
  void StatsTick(StreamId id);

  Driver* driver_;
  std::unique_ptr<tasks::TimerQueue> timers_;  // reset first in the destructor

  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  StreamId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<StreamId, HubStream<drivers::FingerprintResponse>*> fingerprint_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<StreamId, HubStream<drivers::DriverTaskEvent>*> events_ ABSL_GUARDED_BY(mu_);
  struct StatsStream {
    HubStream<drivers::TaskStatsResponse>* stream;
    std::string task_id;
    absl::Duration interval;
    bool sampled = false;  // a sample was taken: a later NotFound means the task is gone
  };
  absl::flat_hash_map<StreamId, StatsStream> stats_ ABSL_GUARDED_BY(mu_);

  // Fingerprint state, touched only on the timer thread (and at open, under mu_).
  std::unique_ptr<FingerprintReport> last_report_ ABSL_GUARDED_BY(mu_);
  absl::Time last_sent_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace carp_exec::service
