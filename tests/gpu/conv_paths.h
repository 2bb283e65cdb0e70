// The CUDA backend's two convolution paths (cuDNN and im2col, gpu/cuda_backend_impl.h) as a test
// parameter: a TEST_P of a suite derived from ConvPathTest runs once on each, on the shared
// backend, and puts the path back afterwards. Where there is no GPU both skip; where cuDNN cannot
// be loaded the cuDNN one skips with the reason.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/util/error.h"
#include "gpu/cuda_backend_impl.h"
#include "tests/gpu/gpu_test_support.h"

namespace tb::gpu::testing {

class ConvPathTest : public ::testing::TestWithParam<ConvPath> {
 protected:
  void SetUp() override {
    TB_REQUIRE_GPU();
    backend_ = dynamic_cast<CudaBackend*>(cuda());
    ASSERT_NE(backend_, nullptr) << "the CUDA backend is not a CudaBackend";
    previous_ = backend_->conv_path();
    try {
      backend_->set_conv_path(GetParam());
    } catch (const Error& e) {  // cuDNN cannot be loaded here
      backend_ = nullptr;
      GTEST_SKIP() << e.what();
    }
    start_ = backend_->conv_counts();
  }

  void TearDown() override {
    if (backend_ == nullptr) return;
    // Every convolution since SetUp ran on the path under test: cuDNN took each call it was
    // given (no silent fallback to im2col), and im2col never reached cuDNN.
    const auto& counts = backend_->conv_counts();
    if (GetParam() == ConvPath::cudnn) {
      EXPECT_EQ(counts.im2col, start_.im2col)
          << "calls fell back to im2col; the last because " << backend_->last_conv_fallback();
    } else {
      EXPECT_EQ(counts.cudnn, start_.cudnn);
    }
    backend_->set_conv_path(previous_);
  }

  CudaBackend* backend_ = nullptr;

 private:
  ConvPath previous_ = ConvPath::im2col;
  CudaBackend::ConvCounts start_;
};

inline std::string conv_path_name(const ::testing::TestParamInfo<ConvPath>& info) {
  return info.param == ConvPath::cudnn ? "cudnn" : "im2col";
}

// In a test file: runs the TEST_Ps of `suite` (a class derived from ConvPathTest) on both paths.
#define TB_CONV_PATHS(suite)                                                                       \
  INSTANTIATE_TEST_SUITE_P(                                                                        \
      ConvPath, suite, ::testing::Values(::tb::gpu::ConvPath::cudnn, ::tb::gpu::ConvPath::im2col), \
      ::tb::gpu::testing::conv_path_name)

}  // namespace tb::gpu::testing
