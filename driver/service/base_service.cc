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

grpc::ServerUnaryReactor* BaseService::SetConfig(grpc::CallbackServerContext* ctx,
                                                 const base::SetConfigRequest* request,
                                                 base::SetConfigResponse*) {
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
