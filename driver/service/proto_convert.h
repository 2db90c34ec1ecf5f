#pragma once
// Domain values → Nomad's protobuf messages.

#include <string>

#include "absl/time/time.h"
#include "driver/driver.h"
#include "driver/failover/failover_event.h"
#include "driver/tasks/process_stats.h"
#include "driver/tasks/task_types.h"
#include "google/protobuf/timestamp.pb.h"
#include "nomad/driver.pb.h"

namespace carp_exec::service {

namespace drivers = hashicorp::nomad::plugins::drivers::proto;

// Go's zero time.Time, which Nomad expects for "not yet" (a missing Timestamp fails to decode).
inline constexpr int64_t kGoZeroTimeSeconds = -62135596800;

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out);
// UnixEpoch (our "unset") becomes Go's zero time.
void ToTimestampOrGoZero(absl::Time t, google::protobuf::Timestamp* out);

void ToProto(const tasks::ExitResult& in, drivers::ExitResult* out);
void ToProto(const tasks::TaskStatus& in, drivers::TaskStatus* out);
void ToProto(const FingerprintReport& in, drivers::FingerprintResponse* out);
void ToProto(const failover::FailoverEvent& in, absl::Time when, drivers::DriverTaskEvent* out);
void ToProto(const tasks::TaskStats& in, drivers::TaskStats* out);

}  // namespace carp_exec::service
