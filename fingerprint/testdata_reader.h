#pragma once
// Test-only: reads a file from fingerprint/testdata (copies of /work/shared/fixtures).
// CARP_FINGERPRINT_TESTDATA is set by fingerprint/CMakeLists.txt for the test executables.

#include <fstream>
#include <sstream>
#include <string>

namespace carp_exec::fingerprint {

inline std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(CARP_FINGERPRINT_TESTDATA) + "/" + name, std::ios::binary);
  if (!in) return "<missing testdata " + name + ">";
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace carp_exec::fingerprint
