// The CUPTI loader's version check: a CUPTI of the major version the record structs come from
// is accepted, any other refused with a reason that names what was found and what to do; the
// CUPTI installed here loads. Runs without a GPU.
#include <gtest/gtest.h>

#include <cupti.h>

#include <string>

#include "gpu/cupti_library.h"

namespace tb::gpu {
namespace {

TEST(CuptiLibrary, AcceptsTheCuptiItWasBuiltAgainstAndItsUpdates) {
  EXPECT_EQ(cupti_version_problem(CUPTI_API_VERSION), "");
  EXPECT_EQ(cupti_version_problem(130000), "");  // CUDA 13.0
  EXPECT_EQ(cupti_version_problem(130103), "");  // a later 13.x: records only grow at the end
}

TEST(CuptiLibrary, RefusesCupti12WithTheReason) {
  // CUDA 12.9 Update 1's CUPTI: API versions before 13 are a plain count.
  const std::string why = cupti_version_problem(28);
  EXPECT_NE(why.find("CUPTI API version 28 (CUDA 12 or older)"), std::string::npos) << why;
  EXPECT_NE(why.find("CUPTI 13 (CUDA 13.x)"), std::string::npos) << why;
  EXPECT_NE(why.find("libcupti.so.13 to LD_LIBRARY_PATH"), std::string::npos) << why;
}

TEST(CuptiLibrary, RefusesALaterMajorVersion) {
  const std::string why = cupti_version_problem(140200);
  EXPECT_NE(why.find("CUPTI 14.2 (API version 140200)"), std::string::npos) << why;
}

// The loader end to end on this machine's CUPTI (cuptiGetVersion needs no GPU): found, of the
// right version, with every function the tracer calls.
TEST(CuptiLibrary, TheInstalledCuptiIsAccepted) {
  std::string why;
  const CuptiLibrary* cupti = cupti_library(why);
  if (cupti == nullptr && why.find("was not found") != std::string::npos) GTEST_SKIP() << why;
  ASSERT_NE(cupti, nullptr) << why;
  EXPECT_EQ(why, "");
  EXPECT_NE(cupti->get_next_record, nullptr);
  EXPECT_NE(cupti->pop_external_correlation_id, nullptr);
}

}  // namespace
}  // namespace tb::gpu
