// build_model and Model: structure, parameter counts and names, errors, seeding, an end-to-end
// gradient check through model + loss, and a few SGD steps that must lower the loss.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"
#include "core/util/error.h"
#include "tests/core/nn/gradcheck.h"
#include "tests/core/nn/model_specs.h"

namespace tb::nn {
namespace {

using test_specs::mlp;
using test_specs::tiny_cnn;
using test_util::from_vec;
using test_util::labels_tensor;
using test_util::max_rel_error;
using test_util::numeric_grad;
using test_util::pick_coords;
using test_util::random_floats;
using test_util::random_labels;
using test_util::to_vec;

TEST(Model, MlpStructureAndParameterCount) {
  auto backend = tensor::make_cpu_backend(1);
  auto model = build_model(*backend, mlp({256, 128}), {1, 28, 28}, 10, 1);
  EXPECT_EQ(model->describe(),
            "Flatten Linear(784->256) ReLU Linear(256->128) ReLU Linear(128->10)");
  // 784*256 + 256 + 256*128 + 128 + 128*10 + 10
  EXPECT_EQ(model->parameter_count(), 235146);
  EXPECT_EQ(model->sample_shape(), (Shape{1, 28, 28}));

  // Names as PyTorch's nn.Sequential state_dict gives them: layer index, then the tensor.
  std::vector<std::string> names;
  for (auto* p : model->parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"1.weight", "1.bias", "3.weight", "3.bias", "5.weight",
                                             "5.bias"}));

  // Layers with nothing trainable before them skip their input gradient: Flatten, whose input
  // is data, and the first Linear, whose input gradient would only flow back into Flatten.
  const auto& layers = model->layers();
  ASSERT_EQ(layers.size(), 6u);
  EXPECT_FALSE(layers[0]->needs_input_grad());
  EXPECT_FALSE(layers[1]->needs_input_grad());
  for (std::size_t i = 2; i < layers.size(); ++i) EXPECT_TRUE(layers[i]->needs_input_grad()) << i;

  Tensor x = backend->zeros({3, 1, 28, 28});
  EXPECT_EQ(model->forward(x, false).shape(), (Shape{3, 10}));
}

TEST(Model, CnnStructureAndParameterCount) {
  auto backend = tensor::make_cpu_backend(1);
  auto model = build_model(*backend, tiny_cnn(), {1, 8, 8}, 10, 1);
  EXPECT_EQ(model->describe(),
            "Conv2d(1->4, k3, pad 1) BatchNorm2d(4) ReLU MaxPool2d(2) Flatten Linear(64->16) ReLU "
            "Linear(16->10)");
  // conv 4*1*3*3 + 4, batch norm 4 + 4, 64*16 + 16, 16*10 + 10
  EXPECT_EQ(model->parameter_count(), 40 + 8 + 1040 + 170);
  EXPECT_FALSE(model->layers()[0]->needs_input_grad());
  EXPECT_TRUE(model->layers()[1]->needs_input_grad());
  std::vector<std::string> names;
  for (auto* p : model->parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "5.weight",
                                             "5.bias", "7.weight", "7.bias"}));

  // Two blocks, the second without pooling or batch norm, and dropout in the head.
  ModelSpec two = tiny_cnn();
  two.conv.push_back(ConvBlockSpec{.channels = 6, .kernel = 5, .pool = 1, .batch_norm = false});
  two.dropout = 0.25;
  auto model2 = build_model(*backend, two, {1, 8, 8}, 3, 1);
  EXPECT_EQ(model2->describe(),
            "Conv2d(1->4, k3, pad 1) BatchNorm2d(4) ReLU MaxPool2d(2) Conv2d(4->6, k5, pad 2) ReLU "
            "Flatten Linear(96->16) ReLU Dropout(0.25) Linear(16->3)");
  Tensor x = backend->zeros({2, 1, 8, 8});
  EXPECT_EQ(model2->forward(x, true).shape(), (Shape{2, 3}));
}

TEST(Model, BadSpecsThrow) {
  auto backend = tensor::make_cpu_backend(1);
  ModelSpec rnn;
  rnn.type = "rnn";
  try {
    build_model(*backend, rnn, {1, 28, 28}, 10, 1);
    ADD_FAILURE() << "type rnn was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rnn"), std::string::npos) << e.what();
  }
  // A cnn needs [C, H, W] samples.
  EXPECT_THROW(build_model(*backend, tiny_cnn(), {784}, 10, 1), Error);
  // A zero-width hidden layer is refused.
  EXPECT_THROW(build_model(*backend, mlp({0}), {1, 8, 8}, 10, 1), Error);
}

// "Throws tb::Error when the spec does not fit the input (e.g. pooling below one pixel)".
// KNOWN CORE BUG (see layer_contract_test.cpp): Pool2dGeometry::out_h truncates (1 - 2) / 2 to 0,
// so pooling a 1x1 map gives 1x1 and build_model accepts any amount of pooling; a forward pass
// of such a model would read outside its input. Not run forward here for that reason.
TEST(Model, TooMuchPoolingForTheInputThrows) {
  auto backend = tensor::make_cpu_backend(1);
  ModelSpec deep = tiny_cnn();
  // 8 -> 4 -> 2 -> 1 -> below one pixel.
  deep.conv.assign(4, ConvBlockSpec{.channels = 4, .kernel = 3, .pool = 2, .batch_norm = false});
  EXPECT_THROW(build_model(*backend, deep, {1, 8, 8}, 10, 1), Error) << "four 2x2 pools on 8x8";
  ModelSpec wide = tiny_cnn();
  wide.conv[0].pool = 16;  // a 16x16 window on an 8x8 image
  EXPECT_THROW(build_model(*backend, wide, {1, 8, 8}, 10, 1), Error) << "16x16 pool on 8x8";
}

TEST(Model, SameSeedSameWeightsOtherSeedOtherWeights) {
  auto backend = tensor::make_cpu_backend(1);
  for (const auto& spec : {mlp({32, 16}), tiny_cnn()}) {
    SCOPED_TRACE(spec.type);
    auto a = build_model(*backend, spec, {1, 8, 8}, 10, 42);
    auto b = build_model(*backend, spec, {1, 8, 8}, 10, 42);
    auto c = build_model(*backend, spec, {1, 8, 8}, 10, 43);
    const auto pa = a->parameters(), pb = b->parameters(), pc = c->parameters();
    ASSERT_EQ(pa.size(), pb.size());
    ASSERT_EQ(pa.size(), pc.size());
    bool any_differs = false;
    for (std::size_t i = 0; i < pa.size(); ++i) {
      EXPECT_EQ(to_vec(pa[i]->value), to_vec(pb[i]->value)) << pa[i]->name;
      any_differs |= to_vec(pa[i]->value) != to_vec(pc[i]->value);
    }
    EXPECT_TRUE(any_differs);
    // Every randomly initialised tensor differs (batch norm's 1s and 0s are constant).
    EXPECT_NE(to_vec(pa[0]->value), to_vec(pc[0]->value));
    EXPECT_NE(to_vec(pa.back()->value), to_vec(pc.back()->value));
  }
}

TEST(Model, DropoutOnlyInTraining) {
  auto backend = tensor::make_cpu_backend(1);
  ModelSpec spec = mlp({64});
  spec.dropout = 0.5;
  auto model = build_model(*backend, spec, {1, 8, 8}, 10, 3);
  std::mt19937_64 rng(3001);
  Tensor x = from_vec(*backend, {4, 1, 8, 8}, random_floats(256, rng));
  const auto e1 = to_vec(model->forward(x, false));
  const auto e2 = to_vec(model->forward(x, false));
  const auto t1 = to_vec(model->forward(x, true));
  const auto t2 = to_vec(model->forward(x, true));
  EXPECT_EQ(e1, e2);
  EXPECT_NE(t1, t2);
  EXPECT_NE(e1, t1);
}

// Mean cross-entropy of the logits in double, so the objective adds no float rounding.
double cross_entropy(const Tensor& logits, const std::vector<std::int32_t>& labels) {
  const auto l = to_vec(logits);
  const auto k = logits.shape()[1];
  double total = 0.0;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    double max = -INFINITY;
    for (std::int64_t j = 0; j < k; ++j) max = std::max(max, double(l[r * k + j]));
    double sum = 0.0;
    for (std::int64_t j = 0; j < k; ++j) sum += std::exp(l[r * k + j] - max);
    total += max + std::log(sum) - l[r * k + labels[r]];
  }
  return total / static_cast<double>(labels.size());
}

// Model forward + loss backward + model backward against central differences of the loss with
// respect to a few coordinates of every parameter tensor.
void check_model_gradients(const ModelSpec& spec, std::uint64_t seed) {
  auto backend = tensor::make_cpu_backend(1);
  auto model = build_model(*backend, spec, {1, 8, 8}, 10, seed);
  std::mt19937_64 rng(seed);
  const std::int64_t batch = 3;
  Tensor x = from_vec(*backend, {batch, 1, 8, 8}, random_floats(batch * 64, rng));
  const auto vy = random_labels(batch, 10, rng);
  Tensor labels = labels_tensor(*backend, vy);
  SoftmaxCrossEntropy loss(*backend);
  loss.forward(model->forward(x, true), labels);
  model->backward(loss.backward());

  const auto objective = [&] { return cross_entropy(model->forward(x, true), vy); };
  for (Parameter* p : model->parameters()) {
    const auto analytic_all = to_vec(p->grad);
    // The largest-gradient coordinates (where an error shows most) plus a few random ones.
    auto coords = pick_coords(p->value.numel(), 4, rng);
    std::vector<std::int64_t> order(analytic_all.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
    std::partial_sort(
        order.begin(), order.begin() + std::min<std::size_t>(4, order.size()), order.end(),
        [&](auto a, auto b) { return std::abs(analytic_all[a]) > std::abs(analytic_all[b]); });
    coords.insert(coords.end(), order.begin(),
                  order.begin() + std::min<std::size_t>(4, order.size()));
    std::vector<float> analytic;
    for (auto i : coords) analytic.push_back(analytic_all[i]);
    // ReLU and max pooling are piecewise linear: a step that crosses a kink (a ReLU input or a
    // pooling winner changing sign/place) corrupts that difference, and with hundreds of units
    // behind batch norm some step always does at 1e-2. A kink crossing shrinks with the step
    // while a wrong gradient does not, so each coordinate keeps the estimate, over two small
    // steps, nearest the analytic value; a wrong gradient still misses at every step.
    const auto coarse = numeric_grad(p->value.data(), coords, 1e-3f, objective);
    const auto fine = numeric_grad(p->value.data(), coords, 3e-4f, objective);
    std::vector<double> numeric(coords.size());
    for (std::size_t j = 0; j < coords.size(); ++j) {
      numeric[j] = std::abs(coarse[j] - analytic[j]) <= std::abs(fine[j] - analytic[j]) ? coarse[j]
                                                                                        : fine[j];
    }
    const double err = max_rel_error(analytic, numeric);
    // Observed errors are <= 5e-5, except the conv bias that feeds batch norm: its true gradient
    // is 0 and its differences are ~1e-6 of rounding noise, ~1e-3 against the metric's floor.
    EXPECT_LT(err, 1e-2) << p->name << ": gradient off by " << err;
  }
}

TEST(Model, MlpEndToEndGradients) {
  check_model_gradients(mlp({16}), 7);
}

TEST(Model, CnnEndToEndGradients) {
  check_model_gradients(tiny_cnn(), 8);
}

// Two well-separated Gaussian blobs in 2-D: a handful of SGD steps must fit them.
TEST(Model, SgdStepsReduceTheLossOnASeparableProblem) {
  auto backend = tensor::make_cpu_backend(1);
  auto model = build_model(*backend, mlp({8}), {2}, 2, 5);
  std::mt19937_64 rng(3002);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  const std::int64_t n = 64;
  std::vector<float> vx(n * 2);
  std::vector<std::int32_t> vy(n);
  for (std::int64_t i = 0; i < n; ++i) {
    vy[i] = static_cast<std::int32_t>(i % 2);
    const float centre = vy[i] ? 1.0f : -1.0f;
    vx[i * 2] = centre + noise(rng);
    vx[i * 2 + 1] = -centre + noise(rng);
  }
  Tensor x = from_vec(*backend, {n, 2}, vx);
  Tensor labels = labels_tensor(*backend, vy);
  SoftmaxCrossEntropy loss(*backend);
  optim::OptimizerSpec spec;
  spec.lr = 0.5;
  spec.momentum = 0.9;
  auto sgd = optim::make_optimizer(*backend, model->parameters(), spec);

  const float initial = loss.forward(model->forward(x, true), labels);
  float last = initial;
  for (int step = 0; step < 30; ++step) {
    last = loss.forward(model->forward(x, true), labels);
    model->backward(loss.backward());
    sgd->step();
  }
  last = loss.forward(model->forward(x, false), labels);
  EXPECT_LT(last, 0.25f * initial) << "initial " << initial << ", after 30 steps " << last;
  EXPECT_GE(backend->count_correct(model->forward(x, false), labels), n - 2);
}

}  // namespace
}  // namespace tb::nn
