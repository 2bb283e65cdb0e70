// Mixed precision on the CUDA backend: 16-bit operands straight into the Tensor Core products.
// Labelled `gpu`: every test skips where there is no GPU.
//
// The backend's ops (gemm, conv2d_forward / conv2d_backward with f16 or bf16 x and w) are checked
// against the CPU's f32 ops on the widened values: products of 16-bit values are exact in fp32,
// so only the order of the fp32 accumulation differs, and the tolerance (1e-4 against the scale of
// the sum) is far below what accumulating in 16 bits would miss by (~1e-2). The layers (Linear,
// Conv2d in 16-bit storage) are checked against the same layers on the CPU backend, which widen
// every operand into f32: outputs and gradients within 1e-2 (max_rel_error against the scale of
// the sums), with an output gradient rounded to 16 bits as Model hands it on, and with an f32 one
// that the GPU path narrows for its products. The convolution's tests run on both of the
// backend's paths, cuDNN and im2col (tests/gpu/conv_paths.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/nn/conv.h"
#include "core/nn/linear.h"
#include "core/util/error.h"
#include "tests/gpu/conv_cases.h"
#include "tests/gpu/conv_paths.h"
#include "tests/gpu/gpu_test_support.h"

namespace tb::gpu::testing {
namespace {

using tensor::Conv2dGeometry;

constexpr double kOpTol = 1e-4;
constexpr double kLayerTol = 1e-2;

std::string dtype_str(DType dtype) {
  return tensor::dtype_name(dtype);
}

// CPU tensors: t narrowed to `dtype`, any tensor widened to f32, and t's f32 values rounded to
// what `dtype` holds.
Tensor narrow_cpu(const Tensor& t, DType dtype) {
  Tensor n = cpu().empty(t.shape(), dtype);
  cpu().convert(t, n);
  return n;
}

Tensor widen_cpu(const Tensor& t) {
  Tensor w = cpu().empty(t.shape());
  cpu().convert(t, w);
  return w;
}

Tensor rounded_cpu(const Tensor& t, DType dtype) {
  return widen_cpu(narrow_cpu(t, dtype));
}

TEST(CudaMixedPrecision, CudaProductsTake16BitOperandsAndTheCpusDoNot) {
  TB_REQUIRE_GPU();
  EXPECT_TRUE(cuda()->takes_16bit_matmul_operands());
  EXPECT_FALSE(cpu().takes_16bit_matmul_operands());
}

// ---- the backend's ops ----

// c = op(a) op(b) with a and b narrowed to `dtype` on the GPU, against the CPU's f32 gemm of the
// same (widened) values: the layer's three products at a layer's sizes.
TEST(CudaMixedPrecision, GemmOf16BitOperandsMatchesTheF32GemmOfTheirValues) {
  TB_REQUIRE_GPU();
  struct Case {
    std::int64_t m, k, n;
    bool ta, tb;
  };
  // y = x W^T (128 x 784 x 256), dW = dy^T x (256 x 128 x 784), dx = dy W (128 x 256 x 784), and
  // sizes no Tensor Core tile divides.
  const std::vector<Case> cases = {{128, 784, 256, false, true},
                                   {256, 128, 784, true, false},
                                   {128, 256, 784, false, false},
                                   {33, 77, 19, true, true}};
  std::uint32_t seed = 300;
  for (DType dtype : {DType::bf16, DType::f16}) {
    for (const auto& c : cases) {
      SCOPED_TRACE(dtype_str(dtype) + " " + std::to_string(c.m) + "x" + std::to_string(c.k) + "x" +
                   std::to_string(c.n) + (c.ta ? " A^T" : " A") + (c.tb ? " B^T" : " B"));
      const Tensor a =
          narrow_cpu(random_cpu(c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, seed += 2), dtype);
      const Tensor b =
          narrow_cpu(random_cpu(c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, seed + 1), dtype);
      Tensor want = cpu().empty({c.m, c.n});
      cpu().gemm(widen_cpu(a), c.ta, widen_cpu(b), c.tb, want, 1.0f, 0.0f);
      Tensor got = cuda()->empty({c.m, c.n});
      cuda()->gemm(to_gpu(a), c.ta, to_gpu(b), c.tb, got, 1.0f, 0.0f);
      EXPECT_LT(max_rel_error(to_cpu(got), want, std::sqrt(double(c.k))), kOpTol);
    }
  }
}

class CudaMixedPrecisionConv : public ConvPathTest {};
TB_CONV_PATHS(CudaMixedPrecisionConv);

// conv2d_forward and conv2d_backward with 16-bit x and w, against the CPU's f32 ops on the
// widened values; backward's products see dy rounded to x's dtype and db sums dy as given.
TEST_P(CudaMixedPrecisionConv, ConvolutionOf16BitOperandsMatchesTheF32OpsOnTheirValues) {
  std::uint32_t seed = 400;
  for (DType dtype : {DType::bf16, DType::f16}) {
    for (const auto& cc : conv_cases()) {
      SCOPED_TRACE(dtype_str(dtype) + " " + describe(cc));
      const auto g = geometry(cc);
      const Tensor x =
          narrow_cpu(random_cpu({cc.batch, cc.in_channels, cc.h, cc.w}, ++seed), dtype);
      const Tensor w = narrow_cpu(
          random_cpu({cc.out_channels, cc.in_channels, cc.kernel, cc.kernel}, ++seed), dtype);
      const Tensor b = random_cpu({cc.out_channels}, ++seed);
      const Tensor x32 = widen_cpu(x), w32 = widen_cpu(w);
      const Shape y_shape{cc.batch, cc.out_channels, g.out_h(), g.out_w()};

      Tensor y = cpu().empty(y_shape), y_gpu = cuda()->empty(y_shape);
      cpu().conv2d_forward(x32, w32, b, y, g);
      cuda()->conv2d_forward(to_gpu(x), to_gpu(w), to_gpu(b), y_gpu, g);
      EXPECT_LT(max_rel_error(to_cpu(y_gpu), y, std::sqrt(double(g.patch()))), kOpTol);

      const Tensor dy = random_cpu(y_shape, ++seed);
      Tensor dx = cpu().empty(x.shape()), dw = cpu().empty(w.shape()), db = cpu().empty(b.shape());
      Tensor unused_dw = cpu().empty(w.shape()), unused_db = cpu().empty(b.shape());
      cpu().conv2d_backward(x32, w32, rounded_cpu(dy, dtype), &dx, dw, unused_db, g);
      cpu().conv2d_backward(x32, w32, dy, nullptr, unused_dw, db, g);
      Tensor dx_gpu = cuda()->empty(x.shape()), dw_gpu = cuda()->empty(w.shape());
      Tensor db_gpu = cuda()->empty(b.shape());
      cuda()->conv2d_backward(to_gpu(x), to_gpu(w), to_gpu(dy), &dx_gpu, dw_gpu, db_gpu, g);
      const double sums = std::sqrt(double(cc.batch * g.out_h() * g.out_w()));
      EXPECT_LT(max_rel_error(to_cpu(dw_gpu), dw, sums), kOpTol);
      EXPECT_LT(max_rel_error(to_cpu(db_gpu), db, sums), kOpTol);
      EXPECT_LT(max_rel_error(to_cpu(dx_gpu), dx,
                              std::sqrt(double(cc.out_channels * cc.kernel * cc.kernel))),
                kOpTol);
    }
  }
}

TEST(CudaMixedPrecision, ConvolutionRejectsOperandsOfDifferentDtypes) {
  TB_REQUIRE_GPU();
  ConvCase cc{2, 3, 4, 8, 8, 3, 1, 1};
  const auto g = geometry(cc);
  Tensor x16 = cuda()->zeros({2, 3, 8, 8}, DType::f16);
  Tensor w_bf16 = cuda()->zeros({4, 3, 3, 3}, DType::bf16);
  Tensor w32 = cuda()->zeros({4, 3, 3, 3});
  Tensor b = cuda()->zeros({4}), y = cuda()->zeros({2, 4, 8, 8});
  for (const Tensor* w : {&w_bf16, &w32}) {
    const std::string message = error_of([&] { cuda()->conv2d_forward(x16, *w, b, y, g); });
    EXPECT_NE(message.find("conv2d_forward: input and weight must both be f32, both f16 or both "
                           "bf16"),
              std::string::npos)
        << message;
  }
  Tensor dx = cuda()->zeros({2, 3, 8, 8}), dw = cuda()->zeros({4, 3, 3, 3}),
         db = cuda()->zeros({4});
  const std::string message =
      error_of([&] { cuda()->conv2d_backward(x16, w_bf16, y, &dx, dw, db, g); });
  EXPECT_NE(message.find("conv2d_backward: input and weight must both be"), std::string::npos)
      << message;
  // The shape checks are the CPU's (check_conv2d), before any dtype is looked at.
  Tensor x_wrong = cuda()->zeros({2, 5, 8, 8}, DType::f16);
  Tensor w16 = cuda()->zeros({4, 3, 3, 3}, DType::f16);
  EXPECT_NE(error_of([&] {
              cuda()->conv2d_forward(x_wrong, w16, b, y, g);
            }).find("does not match the layer"),
            std::string::npos);
}

// ---- the layers ----

// What Model does for a layer in 16-bit: the storage dtype, a workspace, and each parameter's
// working copy (the master rounded to the storage dtype).
void make_16bit(nn::Layer& layer, Backend& backend, DType storage, nn::Workspace& workspace) {
  layer.set_storage(storage, &workspace);
  for (nn::Parameter* p : layer.parameters()) {
    p->working = backend.empty(p->value.shape(), storage);
    backend.convert(p->value, p->working);
  }
}

// One layer built twice from the same seed (the initial weights are drawn on the host, so both
// start equal), in 16-bit storage on the CPU and on the GPU.
struct LayerPair {
  std::unique_ptr<nn::Layer> on_cpu, on_gpu;
  nn::Workspace cpu_workspace, gpu_workspace;
};

// Forward, then backward with an output gradient rounded to `dtype` and with an f32 one: the
// GPU layer's output, parameter gradients and input gradient against the CPU layer's. `scale`:
// the size of the sums in the gradients (max_rel_error's floor).
void compare_layers(LayerPair& pair, const Shape& x_shape, DType dtype, double scale,
                    std::uint32_t seed) {
  const Tensor x16 = narrow_cpu(random_cpu(x_shape, seed), dtype);
  const Tensor& y_cpu = pair.on_cpu->forward(x16, true);
  const Tensor& y_gpu = pair.on_gpu->forward(to_gpu(x16), true);
  ASSERT_EQ(y_gpu.dtype(), dtype);
  // Both outputs are rounded to 16 bits: one unit in the last place apart at most, 2^-8 in bf16.
  EXPECT_LT(max_rel_error(widen_cpu(to_cpu(y_gpu)), widen_cpu(y_cpu)), kLayerTol) << "output";
  // The GPU layer skipped widening its input and weight into the f32 workspace.
  EXPECT_FALSE(pair.gpu_workspace.in.defined());
  EXPECT_FALSE(pair.gpu_workspace.weight.defined());

  for (bool rounded : {true, false}) {
    SCOPED_TRACE(rounded ? "output gradient rounded to 16 bits" : "f32 output gradient");
    Tensor dy = random_cpu(y_cpu.shape(), seed + 1);
    if (rounded) dy = rounded_cpu(dy, dtype);
    const Tensor& dx_cpu = pair.on_cpu->backward(dy);
    const Tensor& dx_gpu = pair.on_gpu->backward(to_gpu(dy));
    EXPECT_LT(max_rel_error(to_cpu(dx_gpu), dx_cpu, scale), kLayerTol) << "input gradient";
    const auto cpu_params = pair.on_cpu->parameters(), gpu_params = pair.on_gpu->parameters();
    ASSERT_EQ(cpu_params.size(), gpu_params.size());
    for (std::size_t i = 0; i < cpu_params.size(); ++i) {
      EXPECT_LT(max_rel_error(to_cpu(gpu_params[i]->grad), cpu_params[i]->grad, scale), kLayerTol)
          << cpu_params[i]->name << " gradient";
    }
    EXPECT_FALSE(pair.gpu_workspace.in.defined());
  }
}

TEST(CudaMixedPrecision, LinearLayerIn16BitMatchesTheCpuLayer) {
  TB_REQUIRE_GPU();
  struct Case {
    std::int64_t batch, in, out;
  };
  for (DType dtype : {DType::bf16, DType::f16}) {
    for (const Case& c : {Case{128, 784, 256}, Case{37, 53, 10}}) {
      SCOPED_TRACE(dtype_str(dtype) + " Linear(" + std::to_string(c.in) + "->" +
                   std::to_string(c.out) + ") batch " + std::to_string(c.batch));
      LayerPair pair;
      std::mt19937_64 init_cpu(21), init_gpu(21);
      pair.on_cpu = std::make_unique<nn::Linear>(cpu(), c.in, c.out, init_cpu);
      pair.on_gpu = std::make_unique<nn::Linear>(*cuda(), c.in, c.out, init_gpu);
      make_16bit(*pair.on_cpu, cpu(), dtype, pair.cpu_workspace);
      make_16bit(*pair.on_gpu, *cuda(), dtype, pair.gpu_workspace);
      compare_layers(pair, {c.batch, c.in}, dtype, std::sqrt(double(std::max(c.batch, c.out))),
                     500);
      // Linear narrowed the f32 output gradient into the workspace for its products.
      ASSERT_TRUE(pair.gpu_workspace.grad16.defined());
      EXPECT_EQ(pair.gpu_workspace.grad16.dtype(), dtype);
    }
  }
}

TEST_P(CudaMixedPrecisionConv, Conv2dLayerIn16BitMatchesTheCpuLayer) {
  for (DType dtype : {DType::bf16, DType::f16}) {
    for (const auto& cc : conv_cases()) {
      SCOPED_TRACE(dtype_str(dtype) + " " + describe(cc));
      const auto g = geometry(cc);
      LayerPair pair;
      std::mt19937_64 init_cpu(31), init_gpu(31);
      pair.on_cpu = std::make_unique<nn::Conv2d>(cpu(), cc.in_channels, cc.out_channels, cc.kernel,
                                                 cc.stride, cc.padding, init_cpu);
      pair.on_gpu = std::make_unique<nn::Conv2d>(*cuda(), cc.in_channels, cc.out_channels,
                                                 cc.kernel, cc.stride, cc.padding, init_gpu);
      make_16bit(*pair.on_cpu, cpu(), dtype, pair.cpu_workspace);
      make_16bit(*pair.on_gpu, *cuda(), dtype, pair.gpu_workspace);
      const double sums = std::sqrt(double(
          std::max(cc.batch * g.out_h() * g.out_w(), cc.out_channels * cc.kernel * cc.kernel)));
      compare_layers(pair, {cc.batch, cc.in_channels, cc.h, cc.w}, dtype, sums, 600);
      // The convolution narrows dy inside the backend, as it lays it out for the products.
      EXPECT_FALSE(pair.gpu_workspace.grad16.defined());
    }
  }
}

}  // namespace
}  // namespace tb::gpu::testing
