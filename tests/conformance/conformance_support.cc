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
