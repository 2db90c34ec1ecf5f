#pragma once
// Plugin schemas and config bytes as the Nomad agent and client see and make them.
//
// Nomad converts the hclspec a plugin returns (ConfigSchema, TaskConfigSchema) and aborts on a
// malformed one; it then decodes the user's `config {}` with it and cty-msgpack encodes the
// result. Tests fetch the schema from the running plugin and encode through it, so they send
// exactly what a real agent would (encoding by driver/config/cty_encoder.h).

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "driver/config/cty_value.h"
#include "nomad/hclspec.pb.h"

namespace carp_exec::test_host {

namespace hclspec = ::hashicorp::nomad::plugins::shared::hclspec;

// Checks that a schema converts the way Nomad's hclspec conversion needs: every Spec has its
// oneof set, names are present where no object key supplies them (inside default/array and
// for blocks), types parse, and block maps have labels. The error gives the path.
absl::Status CheckSpecConverts(const hclspec::Spec& spec);

// The attribute names a top-level object schema accepts, with `required` marked by "!".
// Handy in test failure messages.
std::string DescribeSchema(const hclspec::Spec& spec);

// Encodes `user` (a map of HCL attribute and block names to values, as the job file would set
// them) like Nomad after decoding with `schema`: every schema key present, defaults applied,
// keys sorted. Unknown names are errors, as for Nomad; a missing required value is not (Nomad
// would refuse the job), so tests can send it to see the plugin's own check.
absl::StatusOr<std::string> EncodeLikeNomad(const hclspec::Spec& schema,
                                            const config::CtyValue& user);

// cty-msgpack encoding of a value exactly as given (no schema): for malformed-input tests.
absl::StatusOr<std::string> EncodeRaw(const config::CtyValue& value);

}  // namespace carp_exec::test_host
