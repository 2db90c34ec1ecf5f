#include "driver/service/base_service.h"

#include "carp_exec/version.h"
#include "driver/config/plugin_config.h"
#include "driver/log/hclog.h"
#include "driver/service/status_mapping.h"

namespace carp_exec::service {

namespace base = hashicorp::nomad::plugins::base::proto;

// The only driver API version any Nomad accepts.
constexpr char kDriverApiVersion[] = "v0.1.0";

grpc::ServerUnaryReactor* BaseService::PluginInfo(grpc::CallbackServerContext* ctx,
                                                  const base::PluginInfoRequest*,
                                                  base::PluginInfoResponse* response) {
  response->set_type(base::DRIVER);
  response->add_plugin_api_versions(kDriverApiVersion);
  response->set_plugin_version(kPluginVersion);
  response->set_name(kDriverName);
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* BaseService::ConfigSchema(grpc::CallbackServerContext* ctx,
                                                    const base::ConfigSchemaRequest*,
                                                    base::ConfigSchemaResponse* response) {
  *response->mutable_spec() = config::PluginConfigSchema();
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

namespace {

// raw_exec's CPU figures: total MHz of the usable cores (or the operator's override) and the
// number of cores, from the topology Nomad fingerprinted.
tasks::CpuCompute ComputeOf(const base::ClientTopology& topology) {
  tasks::CpuCompute compute;
  double total = 0;
  for (const base::ClientTopologyCore& core : topology.cores()) {
    if (core.disable()) continue;
    const uint64_t mhz = core.guess_speed() != 0  ? core.guess_speed()
                         : core.base_speed() != 0 ? core.base_speed()
                                                  : core.max_speed();
    total += static_cast<double>(mhz);
    ++compute.cores;
  }
  compute.total_mhz = topology.override_total_compute() != 0
                          ? static_cast<double>(topology.override_total_compute())
                          : total;
  return compute;
}

}  // namespace

grpc::ServerUnaryReactor* BaseService::SetConfig(grpc::CallbackServerContext* ctx,
                                                 const base::SetConfigRequest* request,
                                                 base::SetConfigResponse*) {
  if (request->nomad_config().driver().has_topology()) {
    driver_->SetCpuCompute(ComputeOf(request->nomad_config().driver().topology()));
  }
  const absl::Status status =
      driver_->SetConfig(request->msgpack_config(), request->has_nomad_config());
  if (!status.ok()) {
    log::Error("carp_exec", "plugin configuration rejected", {{"error", status.message()}});
  }
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpc(status));
  return reactor;
}

}  // namespace carp_exec::service
