// CpuBackend's dense and elementwise ops against naive double-precision references:
// gemm (every transpose combination, alpha/beta), add_row_bias, sum_rows, relu, dropout, mul and
// sum_squares.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/tensor/backend.h"
#include "core/tensor/cpu_backend.h"
#include "core/util/error.h"
#include "tests/core/tensor/test_util.h"

namespace tb::tensor {
namespace {

using test_util::all_close;
using test_util::from_vec;
using test_util::random_floats;
using test_util::to_vec;

// C = alpha * op(A) * op(B) + beta * C0 in double; A stored [ar, ac], B stored [br, bc].
std::vector<double> naive_gemm(const std::vector<float>& a, std::int64_t ar, std::int64_t ac,
                               bool ta, const std::vector<float>& b, std::int64_t br,
                               std::int64_t bc, bool tb_, const std::vector<float>& c0,
                               double alpha, double beta) {
  const auto m = ta ? ac : ar;
  const auto k = ta ? ar : ac;
  const auto n = tb_ ? br : bc;
  auto A = [&](std::int64_t i, std::int64_t l) { return ta ? a[l * ac + i] : a[i * ac + l]; };
  auto B = [&](std::int64_t l, std::int64_t j) { return tb_ ? b[j * bc + l] : b[l * bc + j]; };
  std::vector<double> c(static_cast<std::size_t>(m * n));
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (std::int64_t l = 0; l < k; ++l) acc += static_cast<double>(A(i, l)) * B(l, j);
      c[i * n + j] = alpha * acc + beta * c0[i * n + j];
    }
  }
  return c;
}

struct GemmCase {
  std::int64_t m, k, n;
  bool ta, tb;
  float alpha, beta;
};

TEST(Gemm, AllTransposeCombinationsWithAlphaBeta) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(11);
  const std::vector<GemmCase> cases = {
      {7, 5, 3, false, false, 1.0f, 0.0f},  {7, 5, 3, false, true, 1.0f, 0.0f},
      {7, 5, 3, true, false, 1.0f, 0.0f},   {7, 5, 3, true, true, 1.0f, 0.0f},
      {7, 5, 3, false, false, 0.5f, 2.0f},  {4, 9, 6, false, true, -1.5f, 0.25f},
      {4, 9, 6, true, false, 2.0f, 1.0f},   {4, 9, 6, true, true, 0.75f, -1.0f},
      {1, 13, 1, false, false, 1.0f, 0.0f}, {33, 17, 29, true, true, 1.0f, 1.0f},
      {64, 70, 10, false, true, 0.1f, 0.5f}};
  for (const auto& t : cases) {
    SCOPED_TRACE("m=" + std::to_string(t.m) + " k=" + std::to_string(t.k) +
                 " n=" + std::to_string(t.n) + " ta=" + std::to_string(t.ta) +
                 " tb=" + std::to_string(t.tb) + " alpha=" + std::to_string(t.alpha) +
                 " beta=" + std::to_string(t.beta));
    // Stored shapes: op(A) is m x k, op(B) is k x n.
    const Shape sa = t.ta ? Shape{t.k, t.m} : Shape{t.m, t.k};
    const Shape sb = t.tb ? Shape{t.n, t.k} : Shape{t.k, t.n};
    const auto va = random_floats(sa.numel(), rng);
    const auto vb = random_floats(sb.numel(), rng);
    const auto vc = random_floats(t.m * t.n, rng);
    Tensor a = from_vec(*backend, sa, va);
    Tensor b = from_vec(*backend, sb, vb);
    Tensor c = from_vec(*backend, {t.m, t.n}, vc);
    backend->gemm(a, t.ta, b, t.tb, c, t.alpha, t.beta);
    const auto want =
        naive_gemm(va, sa[0], sa[1], t.ta, vb, sb[0], sb[1], t.tb, vc, t.alpha, t.beta);
    // fp32 dot products of length k: a few ulps times k of the operands' scale.
    EXPECT_TRUE(all_close(to_vec(c), want, 1e-5, 1e-6 * static_cast<double>(t.k)));
  }
}

TEST(Gemm, BetaZeroIgnoresGarbageInC) {
  // beta == 0 must overwrite C, as BLAS does: NaN already in C may not leak into the result.
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(12);
  const auto va = random_floats(6, rng), vb = random_floats(6, rng);
  Tensor a = from_vec(*backend, {2, 3}, va);
  Tensor b = from_vec(*backend, {3, 2}, vb);
  Tensor c = backend->empty({2, 2});
  backend->fill(c, std::nanf(""));
  backend->gemm(a, false, b, false, c, 1.0f, 0.0f);
  const auto want = naive_gemm(va, 2, 3, false, vb, 3, 2, false, std::vector<float>(4, 0.0f), 1, 0);
  EXPECT_TRUE(all_close(to_vec(c), want, 1e-6, 1e-6));
}

TEST(Gemm, SeesHigherRankTensorsAsRowsByInner) {
  // Linear feeds [N, C, H, W] activations straight in: the op sees them as N x (C*H*W).
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(13);
  const auto va = random_floats(3 * 2 * 2 * 2, rng), vb = random_floats(4 * 8, rng);
  Tensor a = from_vec(*backend, {3, 2, 2, 2}, va);
  Tensor b = from_vec(*backend, {4, 8}, vb);
  Tensor c = backend->empty({3, 4});
  backend->gemm(a, false, b, true, c);
  const auto want = naive_gemm(va, 3, 8, false, vb, 4, 8, true, std::vector<float>(12, 0.0f), 1, 0);
  EXPECT_TRUE(all_close(to_vec(c), want, 1e-5, 1e-5));
}

TEST(Gemm, ShapeMismatchThrows) {
  auto backend = make_cpu_backend(1);
  Tensor a = backend->zeros({7, 5});
  Tensor b = backend->zeros({4, 3});  // inner dimensions 5 vs 4
  Tensor c = backend->zeros({7, 3});
  EXPECT_THROW(backend->gemm(a, false, b, false, c), Error);
  Tensor b_ok = backend->zeros({5, 3});
  Tensor c_bad = backend->zeros({3, 7});  // output shape wrong
  EXPECT_THROW(backend->gemm(a, false, b_ok, false, c_bad), Error);
  EXPECT_THROW(backend->gemm(a, true, b_ok, false, c), Error);  // A^T is 5x7
  try {
    backend->gemm(a, false, b, false, c);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[7, 5]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[4, 3]"), std::string::npos) << e.what();
  }
}

TEST(RowBias, AddRowBiasAndSumRowsMatchLoops) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(21);
  const std::int64_t rows = 9, n = 6;
  const auto vy = random_floats(rows * n, rng), vb = random_floats(n, rng);
  Tensor y = from_vec(*backend, {rows, n}, vy);
  Tensor bias = from_vec(*backend, {n}, vb);
  backend->add_row_bias(y, bias);
  std::vector<double> want(vy.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < n; ++j) want[r * n + j] = double(vy[r * n + j]) + vb[j];
  }
  EXPECT_TRUE(all_close(to_vec(y), want, 0, 1e-6));

  Tensor db = backend->empty({n});
  backend->fill(db, 123.0f);  // must be overwritten, not accumulated into
  backend->sum_rows(y, db);
  const auto vy2 = to_vec(y);
  std::vector<double> sums(n, 0.0);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < n; ++j) sums[j] += vy2[r * n + j];
  }
  EXPECT_TRUE(all_close(to_vec(db), sums, 1e-6, 1e-6));

  Tensor wrong = backend->zeros({n + 1});
  EXPECT_THROW(backend->add_row_bias(y, wrong), Error);
  EXPECT_THROW(backend->sum_rows(y, wrong), Error);
}

TEST(Relu, ForwardAndBackward) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(31);
  auto vx = random_floats(1000, rng);
  vx[0] = 0.0f;  // exactly zero: output 0 and no gradient (y > 0 is false)
  vx[1] = -0.0f;
  const auto vdy = random_floats(1000, rng);
  Tensor x = from_vec(*backend, {10, 100}, vx);
  Tensor y = backend->empty({10, 100});
  backend->relu_forward(x, y);
  const auto out = to_vec(y);
  for (std::size_t i = 0; i < vx.size(); ++i) {
    ASSERT_EQ(out[i], vx[i] > 0 ? vx[i] : 0.0f) << "at " << i;
  }
  Tensor dy = from_vec(*backend, {10, 100}, vdy);
  Tensor dx = backend->empty({10, 100});
  backend->relu_backward(y, dy, dx);
  const auto d = to_vec(dx);
  for (std::size_t i = 0; i < vx.size(); ++i) {
    ASSERT_EQ(d[i], vx[i] > 0 ? vdy[i] : 0.0f) << "at " << i;
  }
  Tensor small = backend->empty({999});
  EXPECT_THROW(backend->relu_forward(x, small), Error);
  EXPECT_THROW(backend->relu_backward(y, dy, small), Error);
}

TEST(Dropout, ForwardAndBackwardApplyTheCounterHashMask) {
  auto backend = make_cpu_backend(2);
  std::mt19937_64 rng(41);
  const std::int64_t n = 100000;
  for (float p : {0.1f, 0.5f, 0.8f}) {
    SCOPED_TRACE("p=" + std::to_string(p));
    const auto vx = random_floats(n, rng), vdy = random_floats(n, rng);
    Tensor x = from_vec(*backend, {n}, vx), dy = from_vec(*backend, {n}, vdy);
    Tensor y = backend->empty({n}), dx = backend->empty({n});
    const std::uint64_t seed = 1234;
    backend->dropout_forward(x, y, p, seed);
    // Backward draws the mask again from the seed: nothing is kept between the two calls.
    backend->dropout_backward(dy, dx, p, seed);
    const float scale = 1.0f / (1.0f - p);
    const auto out = to_vec(y), grad = to_vec(dx);
    std::int64_t kept = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      // The contract: the mask comes from the shared counter hash, so every backend agrees.
      const float m = uniform_from_counter(seed, i) >= p ? scale : 0.0f;
      ASSERT_EQ(out[i], vx[i] * m) << "at " << i;
      ASSERT_EQ(grad[i], vdy[i] * m) << "at " << i;
      kept += m != 0.0f;
    }
    // 100k Bernoulli draws: the standard deviation of the kept fraction is <= 0.0016.
    EXPECT_NEAR(static_cast<double>(kept) / n, 1.0 - p, 0.01);
  }
}

TEST(Dropout, SameSeedSameMaskOtherSeedOtherMask) {
  auto backend = make_cpu_backend(1);
  const std::int64_t n = 10000;
  Tensor x = backend->empty({n});
  backend->fill(x, 1.0f);
  // With x = 1 the output is the mask itself.
  Tensor m1 = backend->empty({n}), m2 = backend->empty({n}), m3 = backend->empty({n});
  backend->dropout_forward(x, m1, 0.5f, 7);
  backend->dropout_forward(x, m2, 0.5f, 7);
  backend->dropout_forward(x, m3, 0.5f, 8);
  EXPECT_EQ(to_vec(m1), to_vec(m2));
  const auto a = to_vec(m1), c = to_vec(m3);
  std::int64_t differ = 0;
  for (std::int64_t i = 0; i < n; ++i) differ += a[i] != c[i];
  // Independent masks at p = 0.5 disagree on about half the elements.
  EXPECT_GT(differ, n / 3);
  EXPECT_LT(differ, 2 * n / 3);
}

TEST(Dropout, PZeroKeepsEverythingAndInvalidPThrows) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(42);
  const auto vx = random_floats(500, rng);
  Tensor x = from_vec(*backend, {500}, vx);
  Tensor y = backend->empty({500}), dx = backend->empty({500});
  backend->dropout_forward(x, y, 0.0f, 3);
  EXPECT_EQ(to_vec(y), vx);
  backend->dropout_backward(x, dx, 0.0f, 3);
  EXPECT_EQ(to_vec(dx), vx);
  EXPECT_THROW(backend->dropout_forward(x, y, 1.0f, 3), Error);
  EXPECT_THROW(backend->dropout_forward(x, y, -0.1f, 3), Error);
  EXPECT_THROW(backend->dropout_backward(x, dx, 1.0f, 3), Error);
  Tensor short_y = backend->empty({499});
  EXPECT_THROW(backend->dropout_forward(x, short_y, 0.5f, 3), Error);
  EXPECT_THROW(backend->dropout_backward(x, short_y, 0.5f, 3), Error);
}

TEST(Mul, ElementwiseProduct) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(51);
  const auto va = random_floats(777, rng), vb = random_floats(777, rng);
  Tensor a = from_vec(*backend, {777}, va), b = from_vec(*backend, {7, 111}, vb);
  Tensor out = backend->empty({777});
  backend->mul(a, b, out);
  const auto got = to_vec(out);
  for (std::size_t i = 0; i < va.size(); ++i) ASSERT_EQ(got[i], va[i] * vb[i]) << "at " << i;
  Tensor bad = backend->empty({776});
  EXPECT_THROW(backend->mul(a, bad, out), Error);
  EXPECT_THROW(backend->mul(a, b, bad), Error);
}

TEST(SumSquares, MatchesDoubleLoop) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(61);
  const auto v = random_floats(12345, rng, -3.0f, 3.0f);
  Tensor t = from_vec(*backend, {12345}, v);
  double want = 0.0;
  for (float x : v) want += static_cast<double>(x) * x;
  EXPECT_NEAR(backend->sum_squares(t), want, 1e-9 * want);
}

}  // namespace
}  // namespace tb::tensor
