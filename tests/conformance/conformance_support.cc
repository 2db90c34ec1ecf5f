#include "tests/conformance/conformance_support.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "tests/host/hclog_line.h"
#include "tests/host/task_fixture.h"

namespace carp_exec::conformance {

using test_host::SetDeadline;
using test_host::ToStatus;

TempDir::TempDir() {
  const char* tmp = getenv("TMPDIR");
  path_ = absl::StrCat(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp", "/carp-conf-XXXXXX");
  if (mkdtemp(path_.data()) == nullptr) path_.clear();
}

TempDir::~TempDir() {
  if (!path_.empty()) (void)test_host::RemoveTree(path_);
}

absl::StatusOr<hclspec::Spec> FetchConfigSchema(PluginProcess& plugin) {
  grpc::ClientContext context;
  SetDeadline(&context, kRpcTimeout);
  base::ConfigSchemaResponse response;
  absl::Status status = ToStatus(
      plugin.base().ConfigSchema(&context, base::ConfigSchemaRequest(), &response), "ConfigSchema");
  if (!status.ok()) return status;
  return response.spec();
}

absl::StatusOr<hclspec::Spec> FetchTaskConfigSchema(PluginProcess& plugin) {
  grpc::ClientContext context;
  SetDeadline(&context, kRpcTimeout);
  drivers::TaskConfigSchemaResponse response;
  absl::Status status = ToStatus(
      plugin.driver().TaskConfigSchema(&context, drivers::TaskConfigSchemaRequest(), &response),
      "TaskConfigSchema");
  if (!status.ok()) return status;
  return response.spec();
}

base::NomadConfig NomadClientConfig() {
  base::NomadConfig config;
  base::NomadDriverConfig* driver = config.mutable_driver();
  driver->set_clientmaxport(14512);
  driver->set_clientminport(14000);
  base::ClientTopology* topology = driver->mutable_topology();
  topology->add_node_ids(0);
  topology->mutable_distances()->set_dimension(1);
  topology->mutable_distances()->add_values(10);
  for (uint32_t core = 0; core < 2; ++core) {
    base::ClientTopologyCore* c = topology->add_cores();
    c->set_socket_id(0);
    c->set_node_id(0);
    c->set_core_id(core);
    c->set_core_grade(base::Performance);
    c->set_base_speed(2400);
    c->set_max_speed(2400);  // base = max = guess: one unambiguous MHz per core
    c->set_guess_speed(2400);
  }
  return config;
}

absl::Status SetConfig(PluginProcess& plugin, const CtyValue& user_config,
                       const base::NomadConfig* nomad_config) {
  absl::StatusOr<hclspec::Spec> schema = FetchConfigSchema(plugin);
  if (!schema.ok()) return schema.status();
  absl::StatusOr<std::string> bytes = test_host::EncodeLikeNomad(*schema, user_config);
  if (!bytes.ok()) return bytes.status();
  base::SetConfigRequest request;
  request.set_msgpack_config(*bytes);
  request.set_plugin_api_version("v0.1.0");
  if (nomad_config != nullptr) *request.mutable_nomad_config() = *nomad_config;
  grpc::ClientContext context;
  SetDeadline(&context, kRpcTimeout);
  base::SetConfigResponse response;
  return ToStatus(plugin.base().SetConfig(&context, request, &response), "SetConfig");
}

absl::Status ConfigureLikeDriverManager(PluginProcess& plugin, const std::string& state_dir,
                                        std::vector<CtyValue::Entry> extra_options) {
  extra_options.emplace_back("state_dir", CtyValue::String(state_dir));
  const base::NomadConfig nomad = NomadClientConfig();
  if (absl::Status s = SetConfig(plugin, CtyValue::Map(std::move(extra_options)), &nomad);
      !s.ok()) {
    return s;
  }
  grpc::ClientContext context;
  SetDeadline(&context, kRpcTimeout);
  drivers::InitResponse response;
  grpc::Status init = plugin.driver().Init(&context, drivers::InitRequest(), &response);
  // Nomad treats UNIMPLEMENTED from Init as success (older plugins).
  if (init.error_code() == grpc::StatusCode::UNIMPLEMENTED) return absl::OkStatus();
  return ToStatus(init, "Init");
}

absl::StatusOr<std::string> EncodeTaskConfig(PluginProcess& plugin, const CtyValue& user_config) {
  absl::StatusOr<hclspec::Spec> schema = FetchTaskConfigSchema(plugin);
  if (!schema.ok()) return schema.status();
  return test_host::EncodeLikeNomad(*schema, user_config);
}

std::vector<std::string> InvalidHclogLines(const PluginProcess& plugin) {
  std::vector<std::string> invalid;
  for (const std::string& line : plugin.StderrLines()) {
    absl::StatusOr<test_host::HclogEntry> entry = test_host::ParseHclogLine(line);
    if (!entry.ok()) invalid.push_back(std::string(entry.status().message()));
  }
  return invalid;
}

}  // namespace carp_exec::conformance
