#include "tests/host/plugin_setup.h"

#include <utility>

#include "tests/host/nomad_config.h"

namespace carp_exec::test_host {

absl::StatusOr<hclspec::Spec> FetchConfigSchema(PluginProcess& plugin) {
  grpc::ClientContext context;
  SetDeadline(&context, kSetupRpcTimeout);
  base_proto::ConfigSchemaResponse response;
  absl::Status status =
      ToStatus(plugin.base().ConfigSchema(&context, base_proto::ConfigSchemaRequest(), &response),
               "ConfigSchema");
  if (!status.ok()) return status;
  return response.spec();
}

absl::StatusOr<hclspec::Spec> FetchTaskConfigSchema(PluginProcess& plugin) {
  grpc::ClientContext context;
  SetDeadline(&context, kSetupRpcTimeout);
  driver_proto::TaskConfigSchemaResponse response;
  absl::Status status = ToStatus(plugin.driver().TaskConfigSchema(
                                     &context, driver_proto::TaskConfigSchemaRequest(), &response),
                                 "TaskConfigSchema");
  if (!status.ok()) return status;
  return response.spec();
}

base_proto::NomadConfig NomadClientConfig() {
  base_proto::NomadConfig config;
  base_proto::NomadDriverConfig* driver = config.mutable_driver();
  driver->set_clientmaxport(14512);
  driver->set_clientminport(14000);
  base_proto::ClientTopology* topology = driver->mutable_topology();
  topology->add_node_ids(0);
  topology->mutable_distances()->set_dimension(1);
  topology->mutable_distances()->add_values(10);
  for (uint32_t core = 0; core < 2; ++core) {
    base_proto::ClientTopologyCore* c = topology->add_cores();
    c->set_socket_id(0);
    c->set_node_id(0);
    c->set_core_id(core);
    c->set_core_grade(base_proto::Performance);
    c->set_base_speed(2400);
    c->set_max_speed(2400);  // base = max = guess: one unambiguous MHz per core
    c->set_guess_speed(2400);
  }
  return config;
}

absl::Status SetConfig(PluginProcess& plugin, const config::CtyValue& user_config,
                       const base_proto::NomadConfig* nomad_config) {
  absl::StatusOr<hclspec::Spec> schema = FetchConfigSchema(plugin);
  if (!schema.ok()) return schema.status();
  absl::StatusOr<std::string> bytes = EncodeLikeNomad(*schema, user_config);
  if (!bytes.ok()) return bytes.status();
  base_proto::SetConfigRequest request;
  request.set_msgpack_config(*bytes);
  request.set_plugin_api_version("v0.1.0");
  if (nomad_config != nullptr) *request.mutable_nomad_config() = *nomad_config;
  grpc::ClientContext context;
  SetDeadline(&context, kSetupRpcTimeout);
  base_proto::SetConfigResponse response;
  return ToStatus(plugin.base().SetConfig(&context, request, &response), "SetConfig");
}

absl::Status ConfigureLikeDriverManager(PluginProcess& plugin, const std::string& state_dir,
                                        std::vector<config::CtyValue::Entry> extra_options) {
  extra_options.emplace_back("state_dir", config::CtyValue::String(state_dir));
  const base_proto::NomadConfig nomad = NomadClientConfig();
  if (absl::Status s = SetConfig(plugin, config::CtyValue::Map(std::move(extra_options)), &nomad);
      !s.ok()) {
    return s;
  }
  grpc::ClientContext context;
  SetDeadline(&context, kSetupRpcTimeout);
  driver_proto::InitResponse response;
  grpc::Status init = plugin.driver().Init(&context, driver_proto::InitRequest(), &response);
  // Nomad treats UNIMPLEMENTED from Init as success (older plugins).
  if (init.error_code() == grpc::StatusCode::UNIMPLEMENTED) return absl::OkStatus();
  return ToStatus(init, "Init");
}

}  // namespace carp_exec::test_host
