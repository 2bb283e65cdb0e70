// Linear and Conv2d on a backend whose matrix products take 16-bit operands
// (Backend::takes_16bit_matmul_operands, true on CUDA): the layers pass their 16-bit activation and
// working weight straight to gemm / conv2d_* instead of widening them, and Linear narrows its
// output gradient for the backward products. Checked here, without a GPU, on the CPU backend
// behind a test double that reports the capability and widens 16-bit operands itself. Widening a
// 16-bit value is exact, so where the layer's operands are the same values the results must equal
// the widening path's bit for bit; an output gradient that is not already 16-bit is rounded for
// the products, which costs bf16 / fp16 precision and nothing more.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/nn/conv.h"
#include "core/nn/linear.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/util/error.h"
#include "tests/core/nn/model_specs.h"
#include "tests/core/tensor/test_util.h"
#include "tests/support/forwarding_backend.h"

namespace tb::nn {
namespace {

using tensor::DType;
using test_util::bitwise_equal;
using test_util::from_vec;
using test_util::labels_tensor;
using test_util::random_floats;
using test_util::random_labels;
using test_util::to_vec;

// The CPU backend, reporting that its products take 16-bit operands. gemm and the convolution
// widen 16-bit x and w (or a and b) to f32 and run the CPU's op; conv2d_backward rounds dy to x's
// dtype for its products and sums db from dy as given, as the capability's contract says. Every
// other op forwards unchanged.
class SixteenBitCpu final : public tb::testing::ForwardingBackend {
 public:
  std::string name() const override { return "cpu (16-bit products)"; }
  bool takes_16bit_matmul_operands() const override { return true; }

  void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, float alpha,
            float beta) override {
    if (is16(a) || is16(b)) {
      tensor::require(a.dtype() == b.dtype(), "gemm", "16-bit operands of different dtypes");
      ++gemm_calls_16bit;
    }
    inner().gemm(wide(a), trans_a, wide(b), trans_b, c, alpha, beta);
  }
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                      const tensor::Conv2dGeometry& g) override {
    if (is16(x) || is16(w)) {
      tensor::require(x.dtype() == w.dtype(), "conv2d_forward", "16-bit operands differ");
      ++conv_calls_16bit;
    }
    inner().conv2d_forward(wide(x), wide(w), b, y, g);
  }
  void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx, Tensor& dw,
                       Tensor& db, const tensor::Conv2dGeometry& g) override {
    if (!is16(x) && !is16(w)) return inner().conv2d_backward(x, w, dy, dx, dw, db, g);
    tensor::require(x.dtype() == w.dtype(), "conv2d_backward", "16-bit operands differ");
    ++conv_calls_16bit;
    const Tensor x32 = wide(x), w32 = wide(w);
    // The products see dy rounded to x's dtype...
    Tensor dy16 = inner().empty(dy.shape());
    inner().copy(dy, dy16);
    inner().round_to(dy16, x.dtype());
    Tensor db_unused = inner().empty(db.shape());
    inner().conv2d_backward(x32, w32, dy16, dx, dw, db_unused, g);
    // ...and db the f32 dy (the same op once more, for its bias sums only).
    Tensor dw_unused = inner().empty(dw.shape());
    inner().conv2d_backward(x32, w32, dy, nullptr, dw_unused, db, g);
  }

  int gemm_calls_16bit = 0;  // gemm calls that got 16-bit operands
  int conv_calls_16bit = 0;  // conv2d_forward / conv2d_backward calls that did

 private:
  static bool is16(const Tensor& t) { return t.dtype() == DType::f16 || t.dtype() == DType::bf16; }
  // t itself when f32, else its exact f32 widening.
  Tensor wide(const Tensor& t) {
    if (!is16(t)) return t;
    Tensor w = inner().empty(t.shape());
    inner().convert(t, w);
    return w;
  }
};

// What Model does for a layer in 16-bit: the storage dtype and a workspace, and each parameter's
// working copy (the master rounded to the storage dtype).
void make_16bit(Layer& layer, Backend& backend, DType storage, Workspace& workspace) {
  layer.set_storage(storage, &workspace);
  for (Parameter* p : layer.parameters()) {
    p->working = backend.empty(p->value.shape(), storage);
    backend.convert(p->value, p->working);
  }
}

// A CPU tensor of random values narrowed to `dtype`, and the same values rounded to it in f32.
Tensor random16(Backend& backend, const Shape& shape, DType dtype, std::mt19937_64& rng) {
  const Tensor wide =
      from_vec(backend, shape, random_floats(static_cast<std::size_t>(shape.numel()), rng));
  Tensor narrow = backend.empty(shape, dtype);
  backend.convert(wide, narrow);
  return narrow;
}

Tensor rounded_copy(Backend& backend, const Tensor& t, DType dtype) {
  Tensor r = backend.empty(t.shape());
  backend.copy(t, r);
  backend.round_to(r, dtype);
  return r;
}

std::vector<float> widened(Backend& backend, const Tensor& t) {
  Tensor wide = backend.empty(t.shape());
  backend.convert(t, wide);
  return to_vec(wide);
}

// The gradients a layer wrote, and the input gradient it returned.
struct Grads {
  std::vector<std::vector<float>> params;
  std::vector<float> input;
};

Grads backward_of(Layer& layer, const Tensor& dy) {
  Grads g;
  g.input = to_vec(layer.backward(dy));
  for (Parameter* p : layer.parameters()) g.params.push_back(to_vec(p->grad));
  return g;
}

// The layer pair's gradients compared: bit for bit when `exact`, else within 16-bit rounding
// (bf16 keeps 8 significant bits, fp16 11; the products sum many terms of either sign).
void expect_same_grads(const Grads& direct, const Grads& reference, bool exact) {
  ASSERT_EQ(direct.params.size(), reference.params.size());
  for (std::size_t i = 0; i < direct.params.size(); ++i) {
    SCOPED_TRACE("parameter " + std::to_string(i));
    if (exact) {
      EXPECT_TRUE(bitwise_equal(direct.params[i], reference.params[i]));
    } else {
      EXPECT_LT(test_util::max_rel_error(direct.params[i], reference.params[i]), 1e-2);
    }
  }
  if (exact) {
    EXPECT_TRUE(bitwise_equal(direct.input, reference.input));
  } else {
    EXPECT_LT(test_util::max_rel_error(direct.input, reference.input), 1e-2);
  }
}

class SixteenBitProducts : public ::testing::TestWithParam<DType> {
 protected:
  SixteenBitCpu direct_backend_;
  std::unique_ptr<Backend> cpu_ = tensor::make_cpu_backend(1);
  Workspace direct_ws_, reference_ws_;
};

TEST_P(SixteenBitProducts, LinearSkipsWideningAndMatchesTheWideningPath) {
  const DType dtype = GetParam();
  std::mt19937_64 init_a(5), init_b(5), rng(6);
  Linear direct(direct_backend_, 24, 10, init_a), reference(*cpu_, 24, 10, init_b);
  make_16bit(direct, direct_backend_, dtype, direct_ws_);
  make_16bit(reference, *cpu_, dtype, reference_ws_);
  const Tensor x = random16(*cpu_, {6, 24}, dtype, rng);

  const std::vector<float> y = widened(*cpu_, direct.forward(x, true));
  EXPECT_EQ(direct_backend_.gemm_calls_16bit, 1);
  EXPECT_TRUE(bitwise_equal(y, widened(*cpu_, reference.forward(x, true))));
  // Neither the input nor the weight was widened into the f32 workspace.
  EXPECT_FALSE(direct_ws_.in.defined());
  EXPECT_FALSE(direct_ws_.weight.defined());
  EXPECT_TRUE(reference_ws_.in.defined());

  // An output gradient already rounded to 16 bits (as Model hands it on) narrows exactly: the
  // same gradients as the widening path, bit for bit.
  const Tensor dy = from_vec(*cpu_, {6, 10}, random_floats(60, rng));
  const Tensor dy_rounded = rounded_copy(*cpu_, dy, dtype);
  expect_same_grads(backward_of(direct, dy_rounded), backward_of(reference, dy_rounded), true);
  EXPECT_EQ(direct_backend_.gemm_calls_16bit, 3);  // + dW and dx
  ASSERT_TRUE(direct_ws_.grad16.defined());
  EXPECT_EQ(direct_ws_.grad16.dtype(), dtype);
  EXPECT_FALSE(direct_ws_.in.defined());

  // An f32 gradient is rounded for the products: within 16-bit precision of the f32 one's, and
  // the bias gradient (a sum of dy itself) exact.
  const Grads got = backward_of(direct, dy), want = backward_of(reference, dy);
  expect_same_grads(got, want, false);
  EXPECT_TRUE(bitwise_equal(got.params[1], want.params[1]));
}

TEST_P(SixteenBitProducts, LinearWithoutInputGradientSkipsTheDxProduct) {
  const DType dtype = GetParam();
  std::mt19937_64 init_a(7), init_b(7), rng(8);
  Linear direct(direct_backend_, 9, 4, init_a), reference(*cpu_, 9, 4, init_b);
  make_16bit(direct, direct_backend_, dtype, direct_ws_);
  make_16bit(reference, *cpu_, dtype, reference_ws_);
  direct.set_needs_input_grad(false);
  reference.set_needs_input_grad(false);
  const Tensor x = random16(*cpu_, {3, 9}, dtype, rng);
  direct.forward(x, true);
  reference.forward(x, true);
  const Tensor dy = rounded_copy(*cpu_, from_vec(*cpu_, {3, 4}, random_floats(12, rng)), dtype);
  EXPECT_FALSE(direct.backward(dy).defined());
  reference.backward(dy);
  EXPECT_EQ(direct_backend_.gemm_calls_16bit, 2);  // forward and dW
  EXPECT_TRUE(
      bitwise_equal(to_vec(direct.parameters()[0]->grad), to_vec(reference.parameters()[0]->grad)));
}

TEST_P(SixteenBitProducts, Conv2dSkipsWideningAndMatchesTheWideningPath) {
  const DType dtype = GetParam();
  std::mt19937_64 init_a(9), init_b(9), rng(10);
  Conv2d direct(direct_backend_, 3, 5, 3, 2, 1, init_a), reference(*cpu_, 3, 5, 3, 2, 1, init_b);
  make_16bit(direct, direct_backend_, dtype, direct_ws_);
  make_16bit(reference, *cpu_, dtype, reference_ws_);
  const Tensor x = random16(*cpu_, {2, 3, 7, 6}, dtype, rng);

  const Tensor& y16 = direct.forward(x, true);
  EXPECT_EQ(y16.dtype(), dtype);
  const std::vector<float> y = widened(*cpu_, y16);
  EXPECT_EQ(direct_backend_.conv_calls_16bit, 1);
  EXPECT_TRUE(bitwise_equal(y, widened(*cpu_, reference.forward(x, true))));
  EXPECT_FALSE(direct_ws_.in.defined());
  EXPECT_FALSE(direct_ws_.weight.defined());

  const Shape y_shape = direct.output_shape(x.shape());
  const Tensor dy =
      from_vec(*cpu_, y_shape, random_floats(static_cast<std::size_t>(y_shape.numel()), rng));
  const Tensor dy_rounded = rounded_copy(*cpu_, dy, dtype);
  expect_same_grads(backward_of(direct, dy_rounded), backward_of(reference, dy_rounded), true);
  EXPECT_EQ(direct_backend_.conv_calls_16bit, 2);
  EXPECT_FALSE(direct_ws_.in.defined());
  // The convolution rounds dy inside the backend: the layer needs no 16-bit gradient buffer.
  EXPECT_FALSE(direct_ws_.grad16.defined());

  const Grads got = backward_of(direct, dy), want = backward_of(reference, dy);
  expect_same_grads(got, want, false);
  EXPECT_TRUE(bitwise_equal(got.params[1], want.params[1]));  // db sums the f32 dy
}

// A whole model: the CNN (conv, batch norm, pooling, linear) and the MLP take the direct path in
// their Linear and Conv2d layers and widen elsewhere; Model rounds every activation gradient to
// the storage dtype, so logits and every parameter gradient equal the widening path's exactly.
TEST_P(SixteenBitProducts, ModelsTrainExactlyAsOnTheWideningPath) {
  const DType dtype = GetParam();
  struct Case {
    ModelSpec spec;
    Shape sample;
  };
  const std::vector<Case> cases = {{test_specs::tiny_cnn(), {1, 8, 8}},
                                   {test_specs::mlp({20, 12}), {1, 6, 6}}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.spec.type);
    std::mt19937_64 rng(11);
    const Shape x_shape{4, c.sample[0], c.sample[1], c.sample[2]};
    const auto x = random_floats(static_cast<std::size_t>(x_shape.numel()), rng);
    const auto labels = random_labels(4, 10, rng);
    std::vector<float> logits[2];
    std::vector<std::vector<float>> grads[2];
    const int calls_before = direct_backend_.gemm_calls_16bit + direct_backend_.conv_calls_16bit;
    for (int run = 0; run < 2; ++run) {
      Backend& backend = run == 0 ? static_cast<Backend&>(direct_backend_) : *cpu_;
      auto model = build_model(backend, c.spec, c.sample, 10, 7);
      model->set_storage(dtype);
      SoftmaxCrossEntropy loss(backend);
      const Tensor& out = model->forward(from_vec(backend, x_shape, x), true);
      logits[run] = to_vec(out);
      loss.forward(out, labels_tensor(backend, labels));
      model->backward(loss.backward());
      for (Parameter* p : model->parameters()) grads[run].push_back(to_vec(p->grad));
    }
    EXPECT_GT(direct_backend_.gemm_calls_16bit + direct_backend_.conv_calls_16bit, calls_before);
    EXPECT_TRUE(bitwise_equal(logits[0], logits[1]));
    ASSERT_EQ(grads[0].size(), grads[1].size());
    for (std::size_t i = 0; i < grads[0].size(); ++i) {
      EXPECT_TRUE(bitwise_equal(grads[0][i], grads[1][i])) << "parameter " << i;
    }
  }
}

// The capability is off on the CPU backend: its layers keep widening (the existing nn tests
// check that their results are unchanged).
TEST(SixteenBitProductsCapability, OffOnTheCpu) {
  EXPECT_FALSE(tensor::make_cpu_backend(1)->takes_16bit_matmul_operands());
}

INSTANTIATE_TEST_SUITE_P(Storage, SixteenBitProducts, ::testing::Values(DType::bf16, DType::f16),
                         [](const auto& info) {
                           return std::string(tensor::dtype_name(info.param));
                         });

}  // namespace
}  // namespace tb::nn
