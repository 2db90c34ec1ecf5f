#pragma once
// hashicorp.nomad.plugins.base.proto.BasePlugin, as a thin adapter over Driver.

#include "driver/driver.h"
#include "nomad/base.grpc.pb.h"

namespace carp_exec::service {

class BaseService final
    : public hashicorp::nomad::plugins::base::proto::BasePlugin::CallbackService {
 public:
  explicit BaseService(Driver* driver) : driver_(driver) {}

  grpc::ServerUnaryReactor* PluginInfo(
      grpc::CallbackServerContext* ctx,
      const hashicorp::nomad::plugins::base::proto::PluginInfoRequest* request,
      hashicorp::nomad::plugins::base::proto::PluginInfoResponse* response) override;
  grpc::ServerUnaryReactor* ConfigSchema(
      grpc::CallbackServerContext* ctx,
      const hashicorp::nomad::plugins::base::proto::ConfigSchemaRequest* request,
      hashicorp::nomad::plugins::base::proto::ConfigSchemaResponse* response) override;
  grpc::ServerUnaryReactor* SetConfig(
      grpc::CallbackServerContext* ctx,
      const hashicorp::nomad::plugins::base::proto::SetConfigRequest* request,
      hashicorp::nomad::plugins::base::proto::SetConfigResponse* response) override;

 private:
  Driver* driver_;
};

}  // namespace carp_exec::service
