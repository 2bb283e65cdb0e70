// clip_grad_norm as torch.nn.utils.clip_grad_norm_: the global L2 norm over every gradient,
// scaled by max_norm / (norm + 1e-6) when that is below 1.
#include <gtest/gtest.h>

#include <cmath>

#include "core/optim/optimizer.h"
#include "tests/core/tensor/test_util.h"

namespace tb::optim {
namespace {

using test_util::from_vec;
using test_util::to_vec;

struct Fixture {
  std::unique_ptr<tensor::Backend> backend = tensor::make_cpu_backend(1);
  std::vector<nn::Parameter> params;
  Fixture() {
    // Norm sqrt(9 + 16 + 144) = 13 over two tensors.
    params.push_back({"a", backend->zeros({2}), from_vec(*backend, {2}, {3.0f, -4.0f})});
    params.push_back({"b", backend->zeros({1}), from_vec(*backend, {1}, {12.0f})});
  }
  std::vector<nn::Parameter*> ptrs() { return {&params[0], &params[1]}; }
};

TEST(ClipGradNorm, ScalesToMaxNormAndReturnsTheNormBefore) {
  Fixture f;
  EXPECT_DOUBLE_EQ(clip_grad_norm(*f.backend, f.ptrs(), 6.5), 13.0);
  const float c = static_cast<float>(6.5 / (13.0 + 1e-6));
  EXPECT_EQ(to_vec(f.params[0].grad), (std::vector<float>{3.0f * c, -4.0f * c}));
  EXPECT_EQ(to_vec(f.params[1].grad), (std::vector<float>{12.0f * c}));
  EXPECT_NEAR(clip_grad_norm(*f.backend, f.ptrs(), 0.0), 6.5, 1e-5);
}

TEST(ClipGradNorm, LeavesSmallGradientsAlone) {
  Fixture f;
  EXPECT_DOUBLE_EQ(clip_grad_norm(*f.backend, f.ptrs(), 20.0), 13.0);
  EXPECT_EQ(to_vec(f.params[0].grad), (std::vector<float>{3.0f, -4.0f}));
  // max_norm <= 0 only measures.
  EXPECT_DOUBLE_EQ(clip_grad_norm(*f.backend, f.ptrs(), 0.0), 13.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm(*f.backend, f.ptrs(), -1.0), 13.0);
  EXPECT_EQ(to_vec(f.params[1].grad), (std::vector<float>{12.0f}));
}

TEST(ClipGradNorm, AtExactlyMaxNormTorchStillScalesByTheEpsilonRatio) {
  // torch: clip_coef = 13 / (13 + 1e-6) < 1, so it multiplies (by 0.99999992).
  Fixture f;
  clip_grad_norm(*f.backend, f.ptrs(), 13.0);
  EXPECT_EQ(to_vec(f.params[1].grad)[0], 12.0f * static_cast<float>(13.0 / (13.0 + 1e-6)));
}

TEST(ClipGradNorm, NonFiniteNormIsReportedNotSpread) {
  Fixture f;
  f.backend->fill(f.params[1].grad, std::nanf(""));
  EXPECT_TRUE(std::isnan(clip_grad_norm(*f.backend, f.ptrs(), 1.0)));
  EXPECT_EQ(to_vec(f.params[0].grad), (std::vector<float>{3.0f, -4.0f}));
}

}  // namespace
}  // namespace tb::optim
