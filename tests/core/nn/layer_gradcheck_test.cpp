// Finite-difference checks of every layer's input and parameter gradients, and of the loss.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/nn/conv.h"
#include "core/nn/elementwise.h"
#include "core/nn/linear.h"
#include "core/nn/loss.h"
#include "tests/core/nn/gradcheck.h"

namespace tb::nn {
namespace {

using test_util::check_layer_gradients;
using test_util::from_vec;
using test_util::GradCheckOptions;
using test_util::labels_tensor;
using test_util::max_rel_error;
using test_util::numeric_grad;
using test_util::pick_coords;
using test_util::random_away_from_zero;
using test_util::random_floats;
using test_util::random_labels;
using test_util::to_vec;

TEST(GradCheck, Linear) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1001);
  Linear layer(*backend, 5, 3, rng);
  Tensor x = from_vec(*backend, {4, 5}, random_floats(20, rng));
  check_layer_gradients(*backend, layer, x, rng);
}

TEST(GradCheck, LinearOnAnImageBatch) {
  // Linear accepts [N, C, H, W] and sees it as [N, C*H*W]; dx comes back in the input's shape.
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1002);
  Linear layer(*backend, 12, 4, rng);
  Tensor x = from_vec(*backend, {2, 3, 2, 2}, random_floats(24, rng));
  check_layer_gradients(*backend, layer, x, rng);
}

TEST(GradCheck, ReLU) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1003);
  ReLU layer(*backend);
  // |x| >= 0.1 > eps: no perturbation crosses the kink at 0.
  Tensor x = from_vec(*backend, {3, 4, 5}, random_away_from_zero(60, rng));
  check_layer_gradients(*backend, layer, x, rng);
}

TEST(GradCheck, Flatten) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1004);
  Flatten layer(*backend);
  Tensor x = from_vec(*backend, {2, 3, 2, 2}, random_floats(24, rng));
  check_layer_gradients(*backend, layer, x, rng);
}

TEST(GradCheck, Conv2dPadded) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1005);
  Conv2d layer(*backend, 3, 4, 3, 1, 1, rng);
  Tensor x = from_vec(*backend, {2, 3, 6, 5}, random_floats(180, rng));
  check_layer_gradients(*backend, layer, x, rng);
}

TEST(GradCheck, Conv2dStride2) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1006);
  Conv2d layer(*backend, 2, 3, 3, 2, 1, rng);
  Tensor x = from_vec(*backend, {2, 2, 7, 7}, random_floats(196, rng));
  check_layer_gradients(*backend, layer, x, rng);
}

TEST(GradCheck, Conv2dUnpaddedStride2Kernel5) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1007);
  Conv2d layer(*backend, 2, 2, 5, 2, 0, rng);
  Tensor x = from_vec(*backend, {3, 2, 9, 8}, random_floats(432, rng));
  check_layer_gradients(*backend, layer, x, rng);
}

// Distinct values at least 0.05 apart in random order: a 1e-2 perturbation never changes which
// element of a window is the maximum.
std::vector<float> distinct_values(std::size_t n, std::mt19937_64& rng) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = 0.05f * static_cast<float>(i) - 2.0f;
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

TEST(GradCheck, MaxPool2d) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1008);
  MaxPool2d layer(*backend, 2, 2);
  Tensor x = from_vec(*backend, {2, 3, 6, 6}, distinct_values(216, rng));
  check_layer_gradients(*backend, layer, x, rng, {.max_coords = 216});
}

TEST(GradCheck, MaxPool2dOverlappingWindows) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1009);
  MaxPool2d layer(*backend, 3, 2);
  Tensor x = from_vec(*backend, {2, 2, 7, 7}, distinct_values(196, rng));
  check_layer_gradients(*backend, layer, x, rng, {.max_coords = 196});
}

TEST(GradCheck, BatchNorm2dTraining) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1010);
  BatchNorm2d layer(*backend, 3);
  // Non-default gamma and beta, so their gradients and the gamma factor in dx are exercised.
  auto params = layer.parameters();
  backend->upload(params[0]->value, random_floats(3, rng, 0.5f, 1.5f).data(), 3 * sizeof(float));
  backend->upload(params[1]->value, random_floats(3, rng).data(), 3 * sizeof(float));
  auto vx = random_floats(3 * 3 * 4 * 4, rng);
  for (std::size_t i = 0; i < vx.size(); ++i) vx[i] = 2.0f * vx[i] + 0.5f;
  Tensor x = from_vec(*backend, {3, 3, 4, 4}, vx);
  check_layer_gradients(*backend, layer, x, rng, {.max_coords = 144});
}

TEST(GradCheck, BatchNorm2dOnFlatFeatures) {
  // [N, C] input (spatial size 1): the statistics run over the batch alone.
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1011);
  BatchNorm2d layer(*backend, 4);
  backend->upload(layer.parameters()[0]->value, random_floats(4, rng, 0.5f, 1.5f).data(),
                  4 * sizeof(float));
  Tensor x = from_vec(*backend, {6, 4}, random_floats(24, rng));
  check_layer_gradients(*backend, layer, x, rng);
}

TEST(GradCheck, DropoutGradientIsTheMask) {
  // Each training forward draws a new mask, so differences through the layer would compare
  // different functions. With the mask fixed by one forward, y = x * mask is linear in x and
  // dL/dx = R * mask exactly.
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1012);
  const float p = 0.4f;
  Dropout layer(*backend, p, 77);
  const auto vx = random_away_from_zero(2000, rng);
  Tensor x = from_vec(*backend, {20, 100}, vx);
  const auto y = to_vec(layer.forward(x, true));
  const auto r = random_floats(vx.size(), rng);
  const auto dx = to_vec(layer.backward(from_vec(*backend, {20, 100}, r)));
  const float scale = 1.0f / (1.0f - p);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < vx.size(); ++i) {
    const float mask = y[i] == 0.0f ? 0.0f : scale;
    ASSERT_EQ(y[i], vx[i] * mask) << "at " << i;
    ASSERT_EQ(dx[i], r[i] * mask) << "at " << i;
    kept += mask != 0.0f;
  }
  EXPECT_GT(kept, 0u);
  EXPECT_LT(kept, vx.size());
}

TEST(GradCheck, SoftmaxCrossEntropy) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1013);
  const std::int64_t rows = 5, k = 7;
  SoftmaxCrossEntropy loss(*backend);
  Tensor logits = from_vec(*backend, {rows, k}, random_floats(rows * k, rng, -2.0f, 2.0f));
  Tensor labels = labels_tensor(*backend, random_labels(rows, k, rng));
  loss.forward(logits, labels);
  const auto analytic = to_vec(loss.backward());
  const auto coords = pick_coords(rows * k, 1000, rng);
  const auto numeric = numeric_grad(logits.data(), coords, 1e-2f,
                                    [&] { return double(loss.forward(logits, labels)); });
  const double err = max_rel_error(analytic, numeric);
  EXPECT_LT(err, 2e-3) << "dlogits off by " << err;
}

// Parameter gradients do not depend on whether the input gradient is wanted.
TEST(GradCheck, SkippingTheInputGradientKeepsParameterGradients) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1014);
  std::mt19937_64 rng_a(5), rng_b(5);  // identical initial weights
  Conv2d with(*backend, 2, 3, 3, 1, 1, rng_a), without(*backend, 2, 3, 3, 1, 1, rng_b);
  Linear lin_with(*backend, 8, 3, rng_a), lin_without(*backend, 8, 3, rng_b);
  without.set_needs_input_grad(false);
  lin_without.set_needs_input_grad(false);

  Tensor x = from_vec(*backend, {2, 2, 4, 4}, random_floats(64, rng));
  Tensor dy = from_vec(*backend, {2, 3, 4, 4}, random_floats(96, rng));
  with.forward(x, true);
  without.forward(x, true);
  EXPECT_TRUE(with.backward(dy).defined());
  EXPECT_FALSE(without.backward(dy).defined());
  for (std::size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(to_vec(with.parameters()[k]->grad), to_vec(without.parameters()[k]->grad));
  }

  Tensor x2 = from_vec(*backend, {4, 8}, random_floats(32, rng));
  Tensor dy2 = from_vec(*backend, {4, 3}, random_floats(12, rng));
  lin_with.forward(x2, true);
  lin_without.forward(x2, true);
  EXPECT_TRUE(lin_with.backward(dy2).defined());
  EXPECT_FALSE(lin_without.backward(dy2).defined());
  for (std::size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(to_vec(lin_with.parameters()[k]->grad), to_vec(lin_without.parameters()[k]->grad));
  }
}

}  // namespace
}  // namespace tb::nn
