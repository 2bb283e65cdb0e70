// The CUDA backend's matrix products, convolution, max pooling and batch normalisation against the
// CPU backend on the same inputs. Labelled `gpu`: every test skips where there is no GPU.
//
// Tolerances: fp32 results within 1e-5 of the CPU (max_rel_error, floor 1: relative where values
// are large, absolute near zero). cuBLAS and Eigen sum products in different orders, and both
// backends' reductions differ only in order (the batch norm sums are in double on both), so
// anything above rounding noise is a bug. Max pooling picks, copies and adds in the CPU's order,
// so it must match bit for bit.
//
// The convolution tests run on both of the backend's paths (tests/gpu/conv_paths.h): cuDNN's,
// which may use only algorithms that sum the products directly in fp32, and im2col with cuBLAS.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "tests/gpu/conv_cases.h"
#include "tests/gpu/conv_paths.h"
#include "tests/gpu/gpu_test_support.h"

namespace tb::gpu::testing {
namespace {

using tensor::Conv2dGeometry;
using tensor::Pool2dGeometry;

constexpr double kTol = 1e-5;

// A CPU copy of `t` rounded to `dtype` (f16 or bf16) and widened back to f32, and the 16-bit
// tensor itself.
struct Rounded {
  Tensor narrow;  // CPU, dtype
  Tensor wide;    // CPU, f32 holding exactly the narrow values
};

Rounded round_through(const Tensor& t, DType dtype) {
  Rounded r{cpu().empty(t.shape(), dtype), cpu().empty(t.shape())};
  cpu().convert(t, r.narrow);
  cpu().convert(r.narrow, r.wide);
  return r;
}

Shape operand_shape(std::int64_t rows, std::int64_t cols, bool trans) {
  return trans ? Shape{cols, rows} : Shape{rows, cols};
}

// c = alpha * op(a) op(b) + beta * c0 on both backends, compared.
void check_gemm(std::int64_t m, std::int64_t k, std::int64_t n, bool ta, bool tb, float alpha,
                float beta, std::uint32_t seed) {
  SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) +
               (ta ? " A^T" : " A") + (tb ? " B^T" : " B") + " alpha " + std::to_string(alpha) +
               " beta " + std::to_string(beta));
  const Tensor a = random_cpu(operand_shape(m, k, ta), seed);
  const Tensor b = random_cpu(operand_shape(k, n, tb), seed + 1);
  Tensor c = random_cpu({m, n}, seed + 2);
  Tensor c_gpu = to_gpu(c);
  cpu().gemm(a, ta, b, tb, c, alpha, beta);
  cuda()->gemm(to_gpu(a), ta, to_gpu(b), tb, c_gpu, alpha, beta);
  // A sum of k products of values in [-1, 1] is about sqrt(k) in size, and float rounds it by
  // about that times 2^-24 in whatever order it is added: the error is measured against that
  // scale (an indexing error is of the order of the values themselves).
  EXPECT_LT(max_rel_error(to_cpu(c_gpu), c, std::max(1.0, std::abs(alpha) * std::sqrt(double(k)))),
            kTol);
}

TEST(CudaGemm, AllTransposesOddSizesWithAlphaBeta) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 1;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      check_gemm(37, 53, 29, ta, tb, 1.0f, 0.0f, seed += 3);
      check_gemm(37, 53, 29, ta, tb, 1.5f, -0.75f, seed += 3);
      check_gemm(1, 17, 5, ta, tb, 0.5f, 1.0f, seed += 3);
    }
  }
}

TEST(CudaGemm, Large) {
  TB_REQUIRE_GPU();
  check_gemm(512, 512, 512, false, false, 1.0f, 0.0f, 100);
  check_gemm(512, 512, 512, true, true, 2.0f, 0.5f, 200);
}

TEST(CudaGemm, SeesTensorsAsFirstDimensionByTheRest) {
  TB_REQUIRE_GPU();
  // [6, 2, 5] is a 6 x 10 matrix, [7, 2, 5] a 7 x 10 one: c = a b^T is 6 x 7.
  const Tensor a = random_cpu({6, 2, 5}, 1), b = random_cpu({7, 2, 5}, 2);
  Tensor c = cpu().zeros({6, 7});
  Tensor c_gpu = cuda()->zeros({6, 7});
  cpu().gemm(a, false, b, true, c, 1.0f, 0.0f);
  cuda()->gemm(to_gpu(a), false, to_gpu(b), true, c_gpu, 1.0f, 0.0f);
  EXPECT_LT(max_rel_error(to_cpu(c_gpu), c), kTol);
}

TEST(CudaGemm, SixteenBitOperandsAccumulateInFp32) {
  TB_REQUIRE_GPU();
  // The CPU gemm takes f32 only (it throws on 16-bit tensors); the reference is its product of
  // the same values, rounded to 16 bits and held in f32. Tensor Core products of 16-bit values
  // are exact in fp32, so only the accumulation order differs.
  for (DType dtype : {DType::f16, DType::bf16}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        SCOPED_TRACE(std::string(tensor::dtype_name(dtype)) + (ta ? " A^T" : " A") +
                     (tb ? " B^T" : " B"));
        const std::int64_t m = 67, k = 129, n = 40;
        const Rounded a = round_through(random_cpu(operand_shape(m, k, ta), 7), dtype);
        const Rounded b = round_through(random_cpu(operand_shape(k, n, tb), 8), dtype);
        Tensor c = random_cpu({m, n}, 9);
        Tensor c_gpu = to_gpu(c);
        cpu().gemm(a.wide, ta, b.wide, tb, c, 1.25f, 0.5f);
        cuda()->gemm(to_gpu(a.narrow), ta, to_gpu(b.narrow), tb, c_gpu, 1.25f, 0.5f);
        // fp32 accumulation agrees with the CPU's to float rounding; accumulating in 16 bits
        // would be some 1e-3 off and fail.
        EXPECT_LT(max_rel_error(to_cpu(c_gpu), c, std::sqrt(double(k))), kTol);
      }
    }
  }
  const Tensor a16 = round_through(random_cpu({4, 4}, 1), DType::f16).narrow;
  Tensor c = cpu().zeros({4, 4});
  EXPECT_THROW(cpu().gemm(a16, false, a16, false, c), tb::Error);
}

TEST(CudaGemm, RejectsMismatchedShapesAndDtypes) {
  TB_REQUIRE_GPU();
  Tensor a = cuda()->zeros({3, 4}), b = cuda()->zeros({5, 6}), c = cuda()->zeros({3, 6});
  EXPECT_THROW(cuda()->gemm(a, false, b, false, c), tb::Error);  // 4 != 5
  Tensor b_ok = cuda()->zeros({4, 6}), c_bad = cuda()->zeros({6, 3});
  EXPECT_THROW(cuda()->gemm(a, false, b_ok, false, c_bad), tb::Error);
  Tensor a16 = cuda()->zeros({3, 4}, DType::f16), b16 = cuda()->zeros({4, 6}, DType::bf16);
  EXPECT_THROW(cuda()->gemm(a16, false, b16, false, c), tb::Error);   // f16 x bf16
  EXPECT_THROW(cuda()->gemm(a16, false, b_ok, false, c), tb::Error);  // f16 x f32
  Tensor b16f = cuda()->zeros({4, 6}, DType::f16), c16 = cuda()->zeros({3, 6}, DType::f16);
  EXPECT_THROW(cuda()->gemm(a16, false, b16f, false, c16), tb::Error);  // 16-bit output
}

// ---- convolution ----

class CudaConv : public ConvPathTest {};
TB_CONV_PATHS(CudaConv);

TEST_P(CudaConv, ForwardMatchesCpu) {
  std::uint32_t seed = 10;
  for (const auto& cc : conv_cases()) {
    SCOPED_TRACE(describe(cc));
    const auto g = geometry(cc);
    const Tensor x = random_cpu({cc.batch, cc.in_channels, cc.h, cc.w}, ++seed);
    const Tensor w = random_cpu({cc.out_channels, cc.in_channels, cc.kernel, cc.kernel}, ++seed);
    const Tensor b = random_cpu({cc.out_channels}, ++seed);
    const Shape y_shape{cc.batch, cc.out_channels, g.out_h(), g.out_w()};
    Tensor y = cpu().empty(y_shape);
    Tensor y_gpu = cuda()->empty(y_shape);
    cpu().conv2d_forward(x, w, b, y, g);
    cuda()->conv2d_forward(to_gpu(x), to_gpu(w), to_gpu(b), y_gpu, g);
    // Each output sums patch() products: errors measured against that sum's scale (check_gemm).
    EXPECT_LT(max_rel_error(to_cpu(y_gpu), y, std::sqrt(double(g.patch()))), kTol);
  }
}

TEST_P(CudaConv, BackwardMatchesCpu) {
  std::uint32_t seed = 50;
  for (const auto& cc : conv_cases()) {
    for (bool with_dx : {true, false}) {
      SCOPED_TRACE(describe(cc) + (with_dx ? " with dx" : " without dx"));
      const auto g = geometry(cc);
      const Shape x_shape{cc.batch, cc.in_channels, cc.h, cc.w};
      const Shape w_shape{cc.out_channels, cc.in_channels, cc.kernel, cc.kernel};
      const Tensor x = random_cpu(x_shape, ++seed);
      const Tensor w = random_cpu(w_shape, ++seed);
      const Tensor dy = random_cpu({cc.batch, cc.out_channels, g.out_h(), g.out_w()}, ++seed);
      Tensor dx = cpu().empty(x_shape), dw = cpu().empty(w_shape);
      Tensor db = cpu().empty({cc.out_channels});
      cpu().conv2d_backward(x, w, dy, with_dx ? &dx : nullptr, dw, db, g);

      // Stale values everywhere: dw and db are overwritten, and so is dx (not accumulated).
      Tensor dx_gpu = cuda()->empty(x_shape), dw_gpu = cuda()->empty(w_shape);
      Tensor db_gpu = cuda()->empty({cc.out_channels});
      cuda()->fill(dx_gpu, 7.0f);
      cuda()->fill(dw_gpu, 7.0f);
      cuda()->fill(db_gpu, 7.0f);
      cuda()->conv2d_backward(to_gpu(x), to_gpu(w), to_gpu(dy), with_dx ? &dx_gpu : nullptr, dw_gpu,
                              db_gpu, g);
      // dW and db sum over every image and output pixel, dx over out_channels x kernel^2
      // terms: each measured against the scale of its sum (check_gemm).
      const double dw_terms = double(cc.batch) * double(g.out_h()) * double(g.out_w());
      const double dx_terms = double(cc.out_channels) * double(cc.kernel) * double(cc.kernel);
      EXPECT_LT(max_rel_error(to_cpu(dw_gpu), dw, std::sqrt(dw_terms)), kTol);
      EXPECT_LT(max_rel_error(to_cpu(db_gpu), db, std::sqrt(dw_terms)), kTol);
      if (with_dx) {
        EXPECT_LT(max_rel_error(to_cpu(dx_gpu), dx, std::sqrt(dx_terms)), kTol);
      }
    }
  }
}

TEST_P(CudaConv, RejectsShapesThatDoNotMatchTheLayer) {
  const auto g = geometry({2, 3, 4, 8, 8, 3, 1, 1});
  Tensor x = cuda()->zeros({2, 3, 8, 8}), w = cuda()->zeros({4, 3, 3, 3});
  Tensor b = cuda()->zeros({4}), y = cuda()->zeros({2, 4, 8, 8});
  Tensor w_bad = cuda()->zeros({4, 2, 3, 3}), y_bad = cuda()->zeros({2, 4, 6, 6});
  Tensor x_bad = cuda()->zeros({2, 3, 8, 9});
  EXPECT_NO_THROW(cuda()->conv2d_forward(x, w, b, y, g));
  EXPECT_THROW(cuda()->conv2d_forward(x, w_bad, b, y, g), tb::Error);
  EXPECT_THROW(cuda()->conv2d_forward(x_bad, w, b, y, g), tb::Error);
  EXPECT_THROW(cuda()->conv2d_forward(x, w, b, y_bad, g), tb::Error);
  Tensor dw = cuda()->zeros({4, 3, 3, 3}), db = cuda()->zeros({4});
  EXPECT_THROW(cuda()->conv2d_backward(x, w_bad, y, nullptr, dw, db, g), tb::Error);
  EXPECT_THROW(cuda()->conv2d_backward(x, w, y_bad, nullptr, dw, db, g), tb::Error);
  EXPECT_THROW(cuda()->conv2d_backward(x, w, y, &x_bad, dw, db, g), tb::Error);
  Tensor dx = cuda()->zeros({2, 3, 8, 8});
  EXPECT_NO_THROW(cuda()->conv2d_backward(x, w, y, &dx, dw, db, g));
  cuda()->synchronize();
}

// ---- max pooling ----

struct PoolCase {
  std::int64_t batch, channels, h, w, kernel, stride;
};

TEST(CudaMaxPool, ForwardAndBackwardMatchCpuExactly) {
  TB_REQUIRE_GPU();
  const std::vector<PoolCase> cases = {
      {2, 3, 8, 8, 2, 2}, {2, 3, 7, 9, 2, 2},  // odd sizes drop the last row/column
      {3, 2, 9, 9, 3, 2}, {1, 4, 6, 7, 3, 1},  // overlapping windows: gradients add up
      {2, 2, 5, 5, 2, 1}, {2, 1, 6, 6, 3, 3},
  };
  std::uint32_t seed = 90;
  for (const auto& pc : cases) {
    SCOPED_TRACE("N" + std::to_string(pc.batch) + " C" + std::to_string(pc.channels) + " " +
                 std::to_string(pc.h) + "x" + std::to_string(pc.w) + " K" +
                 std::to_string(pc.kernel) + " S" + std::to_string(pc.stride));
    Pool2dGeometry g;
    g.kernel = pc.kernel;
    g.stride = pc.stride;
    g.channels = pc.channels;
    g.in_h = pc.h;
    g.in_w = pc.w;
    const Shape x_shape{pc.batch, pc.channels, pc.h, pc.w};
    const Shape y_shape{pc.batch, pc.channels, g.out_h(), g.out_w()};
    // Values on a coarse grid, so windows hold ties: the first maximum in window order wins.
    Tensor x = random_cpu(x_shape, ++seed);
    for (std::int64_t i = 0; i < x.numel(); ++i) x.data()[i] = std::round(x.data()[i] * 2.0f);
    Tensor y = cpu().empty(y_shape), arg = cpu().empty(y_shape, DType::i32);
    cpu().maxpool2d_forward(x, y, arg, g);
    Tensor y_gpu = cuda()->empty(y_shape), arg_gpu = cuda()->empty(y_shape, DType::i32);
    cuda()->maxpool2d_forward(to_gpu(x), y_gpu, arg_gpu, g);
    const Tensor y_back = to_cpu(y_gpu), arg_back = to_cpu(arg_gpu);
    for (std::int64_t i = 0; i < y.numel(); ++i) {
      ASSERT_EQ(y_back.data()[i], y.data()[i]) << "output " << i;
      ASSERT_EQ(arg_back.data_i32()[i], arg.data_i32()[i]) << "argmax " << i;
    }

    const Tensor dy = random_cpu(y_shape, ++seed);
    Tensor dx = cpu().empty(x_shape);
    cpu().maxpool2d_backward(dy, arg, dx, g);
    Tensor dx_gpu = cuda()->empty(x_shape);
    cuda()->fill(dx_gpu, 7.0f);  // overwritten, not accumulated
    cuda()->maxpool2d_backward(to_gpu(dy), arg_gpu, dx_gpu, g);
    const Tensor dx_back = to_cpu(dx_gpu);
    for (std::int64_t i = 0; i < dx.numel(); ++i) {
      ASSERT_EQ(dx_back.data()[i], dx.data()[i]) << "input gradient " << i;
    }
  }
}

TEST(CudaMaxPool, RejectsShapesThatDoNotMatchTheGeometry) {
  TB_REQUIRE_GPU();
  Pool2dGeometry g;
  g.channels = 3;
  g.in_h = 8;
  g.in_w = 8;
  Tensor x = cuda()->zeros({2, 3, 8, 8}), y = cuda()->zeros({2, 3, 4, 4});
  Tensor arg = cuda()->zeros({2, 3, 4, 4}, DType::i32);
  Tensor y_bad = cuda()->zeros({2, 3, 3, 4}), arg_f32 = cuda()->zeros({2, 3, 4, 4});
  EXPECT_NO_THROW(cuda()->maxpool2d_forward(x, y, arg, g));
  EXPECT_THROW(cuda()->maxpool2d_forward(x, y_bad, arg, g), tb::Error);
  EXPECT_THROW(cuda()->maxpool2d_forward(x, y, arg_f32, g), tb::Error);  // argmax is i32
  EXPECT_THROW(cuda()->maxpool2d_backward(y_bad, arg, x, g), tb::Error);
  cuda()->synchronize();
}

// ---- batch normalisation ----

struct BnTensors {
  Tensor x, gamma, beta, running_mean, running_var;
};

// x away from zero mean, so the variance is not just E[x^2].
BnTensors bn_inputs(const Shape& shape, std::uint32_t seed) {
  const std::int64_t c = shape[1];
  return {random_cpu(shape, seed, 2.0f, 5.0f), random_cpu({c}, seed + 1, 0.5f, 1.5f),
          random_cpu({c}, seed + 2), random_cpu({c}, seed + 3),
          random_cpu({c}, seed + 4, 0.5f, 2.0f)};
}

// batchnorm_forward_train on `backend` (cpu() or cuda()), the running statistics starting from
// running_mean and running_var (CPU tensors, not changed); every result on that backend.
struct BnTrained {
  Tensor y, mean, invstd, running_mean, running_var;
};

BnTrained train_forward(Backend& backend, const BnTensors& in, const Tensor& running_mean,
                        const Tensor& running_var) {
  const bool on_gpu = &backend != &cpu();
  const auto place = [&](const Tensor& t) {
    if (on_gpu) return to_gpu(t);
    Tensor copy = cpu().empty(t.shape());
    cpu().copy(t, copy);
    return copy;
  };
  const Shape per_channel{in.x.shape()[1]};
  BnTrained out{backend.empty(in.x.shape()), backend.empty(per_channel), backend.empty(per_channel),
                place(running_mean), place(running_var)};
  backend.batchnorm_forward_train(place(in.x), place(in.gamma), place(in.beta), out.y, out.mean,
                                  out.invstd, out.running_mean, out.running_var, 0.1f, 1e-5f);
  return out;
}

const std::vector<Shape>& bn_shapes() {
  static const std::vector<Shape> shapes = {
      {4, 3, 5, 7}, {6, 4, 9, 11}, {32, 10}, {2, 5, 3, 3, 2}, {16, 8, 32, 32}};
  return shapes;
}

TEST(CudaBatchNorm, TrainingForwardMatchesCpu) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 200;
  for (const auto& shape : bn_shapes()) {
    SCOPED_TRACE(shape.str());
    const auto in = bn_inputs(shape, seed += 10);
    const BnTrained want = train_forward(cpu(), in, in.running_mean, in.running_var);
    const BnTrained got = train_forward(*cuda(), in, in.running_mean, in.running_var);
    EXPECT_LT(max_rel_error(to_cpu(got.y), want.y), kTol);
    EXPECT_LT(max_rel_error(to_cpu(got.mean), want.mean), kTol);
    EXPECT_LT(max_rel_error(to_cpu(got.invstd), want.invstd), kTol);
    EXPECT_LT(max_rel_error(to_cpu(got.running_mean), want.running_mean), kTol);
    EXPECT_LT(max_rel_error(to_cpu(got.running_var), want.running_var), kTol);
  }
}

TEST(CudaBatchNorm, EvalForwardMatchesCpu) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 300;
  for (const auto& shape : bn_shapes()) {
    SCOPED_TRACE(shape.str());
    const auto in = bn_inputs(shape, seed += 10);
    Tensor y = cpu().empty(shape), y_gpu = cuda()->empty(shape);
    cpu().batchnorm_forward_eval(in.x, in.gamma, in.beta, in.running_mean, in.running_var, 1e-5f,
                                 y);
    cuda()->batchnorm_forward_eval(to_gpu(in.x), to_gpu(in.gamma), to_gpu(in.beta),
                                   to_gpu(in.running_mean), to_gpu(in.running_var), 1e-5f, y_gpu);
    EXPECT_LT(max_rel_error(to_cpu(y_gpu), y), kTol);
  }
}

TEST(CudaBatchNorm, BackwardMatchesCpu) {
  TB_REQUIRE_GPU();
  // Both backends sum dy and dy * xhat in double and round once, so dgamma and dbeta agree to
  // the last bit or two. dx = gamma*invstd/m * (m*dy - sum dy - xhat * sum dy*xhat) cancels in
  // float; the backends may contract it into FMAs differently, which moves the bracket by an
  // ulp of m*dy, i.e. dx by about gamma*invstd*2^-23: well inside 1e-5.
  std::uint32_t seed = 400;
  for (const auto& shape : bn_shapes()) {
    SCOPED_TRACE(shape.str());
    const auto in = bn_inputs(shape, seed += 10);
    const Shape per_channel{shape[1]};
    const BnTrained trained =
        train_forward(cpu(), in, cpu().zeros(per_channel), cpu().zeros(per_channel));
    const Tensor& mean = trained.mean;
    const Tensor& invstd = trained.invstd;
    const Tensor dy = random_cpu(shape, seed + 5);
    Tensor dx = cpu().empty(shape), dgamma = cpu().empty(per_channel);
    Tensor dbeta = cpu().empty(per_channel);
    cpu().batchnorm_backward(in.x, dy, in.gamma, mean, invstd, dx, dgamma, dbeta);

    // The same saved statistics on both sides, so only backward is compared.
    Tensor dx_gpu = cuda()->empty(shape), dgamma_gpu = cuda()->empty(per_channel);
    Tensor dbeta_gpu = cuda()->empty(per_channel);
    cuda()->batchnorm_backward(to_gpu(in.x), to_gpu(dy), to_gpu(in.gamma), to_gpu(mean),
                               to_gpu(invstd), dx_gpu, dgamma_gpu, dbeta_gpu);
    EXPECT_LT(max_rel_error(to_cpu(dx_gpu), dx, 1.0), kTol);
    EXPECT_LT(max_rel_error(to_cpu(dgamma_gpu), dgamma, 1.0), kTol);
    EXPECT_LT(max_rel_error(to_cpu(dbeta_gpu), dbeta, 1.0), kTol);
  }
}

TEST(CudaBatchNorm, RejectsAChannelCountThatDoesNotMatch) {
  TB_REQUIRE_GPU();
  Tensor x = cuda()->zeros({4, 3, 2, 2}), y = cuda()->zeros({4, 3, 2, 2});
  Tensor c3 = cuda()->zeros({3}), c4 = cuda()->zeros({4});
  Tensor s1 = cuda()->zeros({3}), s2 = cuda()->zeros({3}), s3 = cuda()->zeros({3});
  Tensor s4 = cuda()->zeros({3});
  EXPECT_THROW(cuda()->batchnorm_forward_train(x, c4, c4, y, s1, s2, s3, s4, 0.1f, 1e-5f),
               tb::Error);
  EXPECT_THROW(cuda()->batchnorm_forward_train(x, c3, c4, y, s1, s2, s3, s4, 0.1f, 1e-5f),
               tb::Error);
  EXPECT_THROW(cuda()->batchnorm_forward_eval(x, c4, c4, c4, c4, 1e-5f, y), tb::Error);
  Tensor x1 = cuda()->zeros({12});
  EXPECT_THROW(cuda()->batchnorm_forward_eval(x1, c3, c3, c3, c3, 1e-5f, y), tb::Error);
  Tensor y_bad = cuda()->zeros({4, 3, 2});
  EXPECT_THROW(cuda()->batchnorm_backward(x, y_bad, c3, s1, s2, y, s3, s4), tb::Error);
  EXPECT_NO_THROW(cuda()->batchnorm_backward(x, y, c3, s1, s2, y, s3, s4));
  cuda()->synchronize();
}

}  // namespace
}  // namespace tb::gpu::testing
