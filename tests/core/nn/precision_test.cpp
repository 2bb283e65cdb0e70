// Mixed precision in the model: bf16/fp16 forward equals fp32 arithmetic on values rounded to the
// storage type, layer by layer; gradients stay close to fp32's; fp32 masters are untouched; the
// activation memory really halves; an fp16 overflow shows up as inf in the gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "core/amp/loss_scaler.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/tensor/half.h"
#include "tests/core/nn/model_specs.h"
#include "tests/core/tensor/test_util.h"

namespace tb::nn {
namespace {

using tensor::DType;
using test_specs::mlp;
using test_specs::tiny_cnn;
using test_util::from_vec;
using test_util::labels_tensor;
using test_util::random_floats;
using test_util::random_labels;
using test_util::to_vec;

std::vector<float> rounded(std::vector<float> v, DType storage) {
  if (storage == DType::bf16) tensor::round_to_bf16(std::span<float>(v));
  if (storage == DType::f16) tensor::round_to_f16(std::span<float>(v));
  return v;
}

// The reference: an fp32 model with the same seed, its weights rounded to the storage type, run
// one layer at a time with every layer output rounded before the next layer sees it. Returns the
// logits, to compare bit for bit with the 16-bit model's (same ops, same order: exact).
std::vector<float> reference_logits(tensor::Backend& backend, const ModelSpec& spec,
                                    const Shape& sample, const std::vector<float>& x,
                                    const Shape& x_shape, DType storage, bool training) {
  auto ref = build_model(backend, spec, sample, 10, 7);
  for (Parameter* p : ref->parameters()) backend.round_to(p->value, storage);
  Tensor h = from_vec(backend, x_shape, rounded(x, storage));
  for (const auto& layer : ref->layers()) {
    const Tensor& y = layer->forward(h, training);
    h = backend.empty(y.shape());
    backend.copy(y, h);
    backend.round_to(h, storage);
  }
  return to_vec(h);
}

class PrecisionForward : public ::testing::TestWithParam<DType> {};

TEST_P(PrecisionForward, MlpLogitsEqualFp32OnRoundedValues) {
  const DType storage = GetParam();
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(3);
  const Shape x_shape{8, 1, 6, 6};
  const auto x = random_floats(static_cast<std::size_t>(x_shape.numel()), rng);
  auto model = build_model(*backend, mlp({24, 12}), {1, 6, 6}, 10, 7);
  model->set_storage(storage);
  const auto logits = to_vec(model->forward(from_vec(*backend, x_shape, x), true));
  EXPECT_EQ(logits,
            reference_logits(*backend, mlp({24, 12}), {1, 6, 6}, x, x_shape, storage, true));
}

TEST_P(PrecisionForward, CnnLogitsEqualFp32OnRoundedValues) {
  const DType storage = GetParam();
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(4);
  const Shape x_shape{4, 1, 8, 8};
  const auto x = random_floats(static_cast<std::size_t>(x_shape.numel()), rng);
  for (bool training : {true, false}) {
    auto model = build_model(*backend, tiny_cnn(), {1, 8, 8}, 10, 7);
    model->set_storage(storage);
    const auto logits = to_vec(model->forward(from_vec(*backend, x_shape, x), training));
    EXPECT_EQ(logits,
              reference_logits(*backend, tiny_cnn(), {1, 8, 8}, x, x_shape, storage, training))
        << "training " << training;
  }
}

INSTANTIATE_TEST_SUITE_P(Storage, PrecisionForward, ::testing::Values(DType::bf16, DType::f16));

TEST(Precision, MastersStayFp32AndTheWorkingCopyIsTheirRounding) {
  auto backend = tensor::make_cpu_backend(1);
  auto model = build_model(*backend, mlp({16}), {1, 4, 4}, 10, 7);
  model->set_storage(DType::bf16);
  std::vector<std::vector<float>> masters;
  for (Parameter* p : model->parameters()) masters.push_back(to_vec(p->value));
  std::mt19937_64 rng(5);
  model->forward(from_vec(*backend, {2, 1, 4, 4}, random_floats(32, rng)), true);
  bool some_master_not_representable = false;
  const auto params = model->parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(to_vec(params[i]->value), masters[i]) << params[i]->name;
    ASSERT_EQ(params[i]->working.dtype(), DType::bf16) << params[i]->name;
    Tensor widened = backend->empty(params[i]->working.shape());
    backend->convert(params[i]->working, widened);
    EXPECT_EQ(to_vec(widened), rounded(masters[i], DType::bf16)) << params[i]->name;
    some_master_not_representable |= rounded(masters[i], DType::bf16) != masters[i];
  }
  EXPECT_TRUE(some_master_not_representable);  // else the test would prove nothing
}

// Finite differences cannot check a bf16 model directly: with 8 significant bits its output is a
// step function of any perturbation small enough for a derivative. The fp32 gradients are checked
// by finite differences (model_test); the bf16 ones must stay close to them. Each rounding
// (inputs, weights, every activation and activation gradient) adds up to 2^-9 relative error, and
// a few of them compound through three layers, so a few per cent in norm is the expected size.
TEST(Precision, Bf16GradientsStayCloseToFp32) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(6);
  const Shape x_shape{16, 1, 6, 6};
  const auto x = random_floats(static_cast<std::size_t>(x_shape.numel()), rng);
  const auto labels = random_labels(16, 10, rng);
  std::vector<std::vector<float>> grads[2];
  for (int low = 0; low < 2; ++low) {
    auto model = build_model(*backend, mlp({32, 16}), {1, 6, 6}, 10, 7);
    if (low) model->set_storage(DType::bf16);
    SoftmaxCrossEntropy loss(*backend);
    const Tensor xt = from_vec(*backend, x_shape, x);
    const Tensor yt = labels_tensor(*backend, labels);
    loss.forward(model->forward(xt, true), yt);
    model->backward(loss.backward());
    for (Parameter* p : model->parameters()) grads[low].push_back(to_vec(p->grad));
  }
  for (std::size_t i = 0; i < grads[0].size(); ++i) {
    double diff = 0.0, norm = 0.0;
    for (std::size_t j = 0; j < grads[0][i].size(); ++j) {
      const double d = static_cast<double>(grads[1][i][j]) - grads[0][i][j];
      diff += d * d;
      norm += static_cast<double>(grads[0][i][j]) * grads[0][i][j];
    }
    EXPECT_LT(std::sqrt(diff / norm), 0.03) << "parameter " << i;
  }
}

// The fashion_mlp model at its batch size: every buffer held from forward to backward, counted.
TEST(Precision, Bf16HalvesTheActivationMemoryOfTheMlp) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(8);
  const Shape x_shape{128, 1, 28, 28};
  const Tensor x =
      from_vec(*backend, x_shape, random_floats(static_cast<std::size_t>(x_shape.numel()), rng));
  std::size_t bytes[2];
  for (int low = 0; low < 2; ++low) {
    auto model = build_model(*backend, mlp({256, 128}), {1, 28, 28}, 10, 1);
    if (low) model->set_storage(DType::bf16);
    model->forward(x, true);
    bytes[low] = model->activation_bytes();
  }
  // Input 784, Linear 256, ReLU 256, Linear 128, ReLU 128, Linear 10 per sample.
  constexpr std::size_t per_sample = 784 + 256 + 256 + 128 + 128 + 10;
  EXPECT_EQ(bytes[0], 128 * per_sample * 4);
  // The same in 2 bytes, plus the widened f32 logits the loss reads.
  EXPECT_EQ(bytes[1], 128 * per_sample * 2 + 128 * 10 * 4);
  EXPECT_LE(static_cast<double>(bytes[1]), 0.55 * static_cast<double>(bytes[0]));
}

TEST(Precision, WorkingWeightsAreStoredIn16Bit) {
  auto backend = tensor::make_cpu_backend(1);
  auto model = build_model(*backend, mlp({256, 128}), {1, 28, 28}, 10, 1);
  const auto params = static_cast<std::size_t>(model->parameter_count());
  EXPECT_EQ(model->weight_bytes(), params * 4);  // fp32: the masters are what layers use
  for (DType storage : {DType::bf16, DType::f16}) {
    model->set_storage(storage);
    // fp32 masters for the optimizer plus a 2-byte working copy of each.
    EXPECT_EQ(model->weight_bytes(), params * 6) << tensor::dtype_name(storage);
    for (Parameter* p : model->parameters()) EXPECT_EQ(p->working.dtype(), storage) << p->name;
  }
  model->set_storage(DType::f32);
  EXPECT_EQ(model->weight_bytes(), params * 4);
}

TEST(Precision, DropoutHoldsItsOutputButNoMask) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(19);
  ModelSpec spec = mlp({64});
  spec.dropout = 0.5;
  const Tensor x = from_vec(*backend, {32, 1, 8, 8}, random_floats(32 * 64, rng));
  for (DType storage : {DType::f32, DType::bf16}) {
    auto with_dropout = build_model(*backend, spec, {1, 8, 8}, 10, 1);
    auto without = build_model(*backend, mlp({64}), {1, 8, 8}, 10, 1);
    with_dropout->set_storage(storage);
    without->set_storage(storage);
    with_dropout->forward(x, true);
    without->forward(x, true);
    // Dropout adds its [32, 64] output in the storage dtype, nothing more.
    EXPECT_EQ(with_dropout->activation_bytes(),
              without->activation_bytes() + 32 * 64 * tensor::dtype_size(storage))
        << tensor::dtype_name(storage);
  }
}

TEST(Precision, WorkspaceIsSizedForTheLargestLayerNotPerLayer) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(9);
  auto model = build_model(*backend, mlp({256, 128}), {1, 28, 28}, 10, 1);
  EXPECT_EQ(model->workspace_bytes(), 0u);
  model->set_storage(DType::bf16);
  model->forward(from_vec(*backend, {128, 1, 28, 28}, random_floats(128 * 784, rng)), true);
  // in: the widest input widened (784); out: the widest output before narrowing (256); weight:
  // the largest weight widened (256 x 784); bias: the largest bias (256).
  EXPECT_EQ(model->workspace_bytes(), (128u * (784 + 256) + 256 * 784 + 256) * 4);
}

// fp16 tops out at 65504: a loss scale that pushes dlogits past it makes inf gradients, which the
// scaler must catch; a sane scale leaves them finite, and unscaled they match the unscaled run.
TEST(Precision, Fp16OverflowReachesTheGradientsAndTheScalerSkips) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(10);
  const Tensor x = from_vec(*backend, {16, 1, 6, 6}, random_floats(16 * 36, rng));
  const Tensor y = labels_tensor(*backend, random_labels(16, 10, rng));
  auto model = build_model(*backend, mlp({32}), {1, 6, 6}, 10, 7);
  model->set_storage(DType::f16);
  SoftmaxCrossEntropy loss(*backend);
  amp::LossScaler scaler({.init_scale = 1e12});
  auto step = [&] {
    loss.forward(model->forward(x, true), y);
    model->backward(loss.backward(), scaler.scale());
    bool found_inf = false;
    for (Parameter* p : model->parameters()) {
      found_inf |= backend->unscale_and_check_finite(p->grad, scaler.inv_scale());
    }
    return scaler.update(found_inf);
  };
  EXPECT_FALSE(step());
  EXPECT_EQ(scaler.skipped_steps(), 1);
  EXPECT_FLOAT_EQ(scaler.scale(), 5e11f);
  while (!step()) {
  }
  EXPECT_GT(scaler.skipped_steps(), 1);
  EXPECT_LT(scaler.scale(), 65504.0f * 16);  // dlogits are at most 1/N = 1/16 in size
  for (Parameter* p : model->parameters()) {
    for (float g : to_vec(p->grad)) ASSERT_TRUE(std::isfinite(g)) << p->name;
  }
}

}  // namespace
}  // namespace tb::nn
