// The precision names a project file uses, and what each precision stores and needs.
#include <gtest/gtest.h>

#include <string>

#include "core/amp/precision.h"
#include "core/util/error.h"

namespace tb::amp {
namespace {

TEST(Precision, ParsesAndNamesEachValue) {
  for (Precision p : {Precision::fp32, Precision::fp16, Precision::bf16}) {
    EXPECT_EQ(parse_precision(precision_name(p)), p) << precision_name(p);
  }
  EXPECT_EQ(parse_precision("fp32"), Precision::fp32);
  EXPECT_EQ(parse_precision("fp16"), Precision::fp16);
  EXPECT_EQ(parse_precision("bf16"), Precision::bf16);
  EXPECT_STREQ(precision_name(Precision::bf16), "bf16");
}

TEST(Precision, RejectsOtherSpellingsNamingTheAcceptedOnes) {
  for (const char* bad : {"", "FP16", "float16", "half", "fp8", "bf16 ", "f16"}) {
    try {
      parse_precision(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()),
                std::string("precision must be one of fp32, fp16, bf16 (got '") + bad + "')");
    }
  }
}

TEST(Precision, StorageDTypeAndLossScaling) {
  EXPECT_EQ(storage_dtype(Precision::fp32), tensor::DType::f32);
  EXPECT_EQ(storage_dtype(Precision::fp16), tensor::DType::f16);
  EXPECT_EQ(storage_dtype(Precision::bf16), tensor::DType::bf16);
  EXPECT_EQ(tensor::dtype_size(storage_dtype(Precision::fp16)), 2u);
  EXPECT_FALSE(needs_loss_scaling(Precision::fp32));
  EXPECT_TRUE(needs_loss_scaling(Precision::fp16));
  EXPECT_FALSE(needs_loss_scaling(Precision::bf16));  // float's exponent range
}

}  // namespace
}  // namespace tb::amp
