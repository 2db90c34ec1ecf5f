#include "tests/host/health_check.h"

#include <string>

#include "gtest/gtest.h"

namespace carp_exec::test_host {
namespace {

TEST(HealthCheckTest, EncodesServiceAsField1) {
  EXPECT_EQ(EncodeHealthCheckRequest("plugin"), std::string("\x0a\x06plugin"));
  EXPECT_EQ(EncodeHealthCheckRequest(""), "");
}

TEST(HealthCheckTest, DecodesStatus) {
  EXPECT_EQ(*DecodeHealthCheckResponse(std::string("\x08\x01", 2)), ServingStatus::kServing);
  EXPECT_EQ(*DecodeHealthCheckResponse(std::string("\x08\x02", 2)), ServingStatus::kNotServing);
  EXPECT_EQ(*DecodeHealthCheckResponse(""), ServingStatus::kUnknown);
  // Unknown length-delimited fields are skipped.
  EXPECT_EQ(*DecodeHealthCheckResponse(std::string("\x12\x01x\x08\x01", 5)),
            ServingStatus::kServing);
}

TEST(HealthCheckTest, RejectsGarbage) {
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x08", 1)).ok());
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x08\x09", 2)).ok());
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x12\x05x", 3)).ok());
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x0d\x00\x00\x00\x00", 5)).ok());
}

}  // namespace
}  // namespace carp_exec::test_host
