#include "driver/service/proto_convert.h"

#include "absl/strings/str_cat.h"

namespace carp_exec::service {

void ToTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  int64_t seconds = nanos / 1000000000;
  int64_t rem = nanos % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rem));
}

void ToTimestampOrGoZero(absl::Time t, google::protobuf::Timestamp* out) {
  if (t == absl::UnixEpoch()) {
    out->set_seconds(kGoZeroTimeSeconds);
    out->set_nanos(0);
    return;
  }
  ToTimestamp(t, out);
}

void ToProto(const tasks::ExitResult& in, drivers::ExitResult* out) {
  out->set_exit_code(in.exit_code);
  out->set_signal(in.signal);
  out->set_oom_killed(in.oom_killed);
}

void ToProto(const tasks::TaskStatus& in, drivers::TaskStatus* out) {
  out->set_id(in.task_id);
  out->set_name(in.task_name);
  out->set_state(in.state == tasks::TaskState::kRunning ? drivers::RUNNING : drivers::EXITED);
  ToTimestampOrGoZero(in.started_at, out->mutable_started_at());
  ToTimestampOrGoZero(in.completed_at, out->mutable_completed_at());
  ToProto(in.result, out->mutable_result());
}

void ToProto(const FingerprintReport& in, drivers::FingerprintResponse* out) {
  switch (in.health) {
    case FingerprintReport::Health::kUndetected:
      out->set_health(drivers::FingerprintResponse::UNDETECTED);
      break;
    case FingerprintReport::Health::kUnhealthy:
      out->set_health(drivers::FingerprintResponse::UNHEALTHY);
      break;
    case FingerprintReport::Health::kHealthy:
      out->set_health(drivers::FingerprintResponse::HEALTHY);
      break;
  }
  out->set_health_description(in.description);
  auto& attrs = *out->mutable_attributes();
  for (const auto& [key, value] : in.attributes) {
    auto& attr = attrs[key];
    switch (value.kind) {
      case FingerprintAttribute::Kind::kBool:
        attr.set_bool_val(value.bool_value);
        break;
      case FingerprintAttribute::Kind::kInt:
        attr.set_int_val(value.int_value);
        break;
      case FingerprintAttribute::Kind::kString:
        attr.set_string_val(value.string_value);
        break;
    }
  }
}

void ToProto(const failover::FailoverEvent& in, absl::Time when, drivers::DriverTaskEvent* out) {
  out->set_task_id(in.task.task_id);
  out->set_alloc_id(in.task.alloc_id);
  out->set_task_name(in.task.task_name);
  ToTimestamp(when, out->mutable_timestamp());
  out->set_message(in.message);
  for (const auto& [key, value] : in.annotations) (*out->mutable_annotations())[key] = value;
}

namespace {

void ToProto(const tasks::ResourceUsage& in, drivers::TaskResourceUsage* out) {
  auto* cpu = out->mutable_cpu();
  cpu->set_system_mode(in.cpu.system_mode);
  cpu->set_user_mode(in.cpu.user_mode);
  cpu->set_total_ticks(in.cpu.total_ticks);
  cpu->set_throttled_periods(in.cpu.throttled_periods);
  cpu->set_throttled_time(in.cpu.throttled_time);
  cpu->set_percent(in.cpu.percent);
  for (tasks::CpuField f : in.cpu.measured) {
    cpu->add_measured_fields(static_cast<drivers::CPUUsage::Fields>(f));
  }
  auto* mem = out->mutable_memory();
  mem->set_rss(in.memory.rss);
  mem->set_cache(in.memory.cache);
  mem->set_max_usage(in.memory.max_usage);
  mem->set_kernel_usage(in.memory.kernel_usage);
  mem->set_kernel_max_usage(in.memory.kernel_max_usage);
  mem->set_usage(in.memory.usage);
  mem->set_swap(in.memory.swap);
  for (tasks::MemoryField f : in.memory.measured) {
    mem->add_measured_fields(static_cast<drivers::MemoryUsage::Fields>(f));
  }
}

}  // namespace

void ToProto(const tasks::TaskStats& in, drivers::TaskStats* out) {
  out->set_id(in.task_id);
  ToTimestamp(in.timestamp, out->mutable_timestamp());
  ToProto(in.aggregate, out->mutable_agg_resource_usage());
  for (const auto& [pid, usage] : in.by_pid) {
    ToProto(usage, &(*out->mutable_resource_usage_by_pid())[pid]);
  }
}

}  // namespace carp_exec::service
