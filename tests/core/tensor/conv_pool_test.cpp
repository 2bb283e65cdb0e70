// conv2d_forward/backward and maxpool2d_forward/backward against naive loop references in double.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/tensor/backend.h"
#include "core/util/error.h"
#include "tests/core/tensor/test_util.h"

namespace tb::tensor {
namespace {

using test_util::all_close;
using test_util::from_vec;
using test_util::random_floats;
using test_util::to_vec;
using test_util::to_vec_i32;

struct ConvCase {
  std::int64_t c, oc, h, w, k, s, p;
};

std::string name(const ConvCase& t) {
  return "C=" + std::to_string(t.c) + " OC=" + std::to_string(t.oc) + " H=" + std::to_string(t.h) +
         " W=" + std::to_string(t.w) + " K=" + std::to_string(t.k) + " S=" + std::to_string(t.s) +
         " P=" + std::to_string(t.p);
}

Conv2dGeometry geometry(const ConvCase& t) {
  Conv2dGeometry g;
  g.in_channels = t.c;
  g.out_channels = t.oc;
  g.kernel = t.k;
  g.stride = t.s;
  g.padding = t.p;
  g.in_h = t.h;
  g.in_w = t.w;
  return g;
}

// Padding 0/1, stride 1/2, 1x1 to 5x5 kernels, non-square images, several channel counts.
const std::vector<ConvCase> kConvCases = {
    {1, 1, 5, 5, 3, 1, 0}, {3, 4, 7, 6, 3, 1, 1}, {2, 5, 8, 8, 3, 2, 1},  {4, 2, 9, 7, 5, 2, 0},
    {3, 3, 6, 6, 1, 1, 0}, {2, 3, 7, 7, 3, 2, 0}, {1, 6, 10, 9, 3, 2, 1}, {5, 1, 4, 4, 3, 1, 1}};
constexpr std::int64_t kBatch = 3;

// The 7-loop convolution: y[n][o][i][j] = b[o] + sum_{c,ki,kj} w[o][c][ki][kj] x[n][c][..][..].
std::vector<double> naive_conv_forward(const std::vector<float>& x, const std::vector<float>& w,
                                       const std::vector<float>& b, std::int64_t batch,
                                       const Conv2dGeometry& g) {
  const auto oh_n = g.out_h(), ow_n = g.out_w();
  std::vector<double> y(static_cast<std::size_t>(batch * g.out_channels * oh_n * ow_n));
  for (std::int64_t n = 0; n < batch; ++n)
    for (std::int64_t o = 0; o < g.out_channels; ++o)
      for (std::int64_t i = 0; i < oh_n; ++i)
        for (std::int64_t j = 0; j < ow_n; ++j) {
          double acc = b[o];
          for (std::int64_t c = 0; c < g.in_channels; ++c)
            for (std::int64_t ki = 0; ki < g.kernel; ++ki)
              for (std::int64_t kj = 0; kj < g.kernel; ++kj) {
                const auto ih = i * g.stride - g.padding + ki;
                const auto iw = j * g.stride - g.padding + kj;
                if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;
                acc += static_cast<double>(
                           w[((o * g.in_channels + c) * g.kernel + ki) * g.kernel + kj]) *
                       x[((n * g.in_channels + c) * g.in_h + ih) * g.in_w + iw];
              }
          y[((n * g.out_channels + o) * oh_n + i) * ow_n + j] = acc;
        }
  return y;
}

struct ConvGrads {
  std::vector<double> dx, dw, db;
};

// The adjoint of the loop above, written out directly rather than derived from im2col.
ConvGrads naive_conv_backward(const std::vector<float>& x, const std::vector<float>& w,
                              const std::vector<float>& dy, std::int64_t batch,
                              const Conv2dGeometry& g) {
  const auto oh_n = g.out_h(), ow_n = g.out_w();
  ConvGrads r;
  r.dx.assign(x.size(), 0.0);
  r.dw.assign(w.size(), 0.0);
  r.db.assign(static_cast<std::size_t>(g.out_channels), 0.0);
  for (std::int64_t n = 0; n < batch; ++n)
    for (std::int64_t o = 0; o < g.out_channels; ++o)
      for (std::int64_t i = 0; i < oh_n; ++i)
        for (std::int64_t j = 0; j < ow_n; ++j) {
          const double d = dy[((n * g.out_channels + o) * oh_n + i) * ow_n + j];
          r.db[o] += d;
          for (std::int64_t c = 0; c < g.in_channels; ++c)
            for (std::int64_t ki = 0; ki < g.kernel; ++ki)
              for (std::int64_t kj = 0; kj < g.kernel; ++kj) {
                const auto ih = i * g.stride - g.padding + ki;
                const auto iw = j * g.stride - g.padding + kj;
                if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;
                const auto xi = ((n * g.in_channels + c) * g.in_h + ih) * g.in_w + iw;
                const auto wi = ((o * g.in_channels + c) * g.kernel + ki) * g.kernel + kj;
                r.dx[xi] += w[wi] * d;
                r.dw[wi] += x[xi] * d;
              }
        }
  return r;
}

TEST(Conv2d, ForwardMatchesNaiveLoops) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(101);
  for (const auto& t : kConvCases) {
    SCOPED_TRACE(name(t));
    const auto g = geometry(t);
    const auto vx = random_floats(kBatch * t.c * t.h * t.w, rng);
    const auto vw = random_floats(t.oc * g.patch(), rng);
    const auto vb = random_floats(t.oc, rng);
    Tensor x = from_vec(*backend, {kBatch, t.c, t.h, t.w}, vx);
    Tensor w = from_vec(*backend, {t.oc, t.c, t.k, t.k}, vw);
    Tensor b = from_vec(*backend, {t.oc}, vb);
    Tensor y = backend->empty({kBatch, t.oc, g.out_h(), g.out_w()});
    backend->conv2d_forward(x, w, b, y, g);
    EXPECT_TRUE(all_close(to_vec(y), naive_conv_forward(vx, vw, vb, kBatch, g), 1e-5,
                          1e-6 * static_cast<double>(g.patch())));
  }
}

TEST(Conv2d, BackwardMatchesNaiveLoops) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(102);
  for (const auto& t : kConvCases) {
    SCOPED_TRACE(name(t));
    const auto g = geometry(t);
    const auto vx = random_floats(kBatch * t.c * t.h * t.w, rng);
    const auto vw = random_floats(t.oc * g.patch(), rng);
    const auto vdy = random_floats(kBatch * t.oc * g.out_h() * g.out_w(), rng);
    Tensor x = from_vec(*backend, {kBatch, t.c, t.h, t.w}, vx);
    Tensor w = from_vec(*backend, {t.oc, t.c, t.k, t.k}, vw);
    Tensor dy = from_vec(*backend, {kBatch, t.oc, g.out_h(), g.out_w()}, vdy);
    Tensor dx = backend->empty(x.shape()), dw = backend->empty(w.shape()),
           db = backend->empty({t.oc});
    // Garbage in the outputs: dw and db are overwritten, dx fully written.
    backend->fill(dx, 99.0f);
    backend->fill(dw, 99.0f);
    backend->fill(db, 99.0f);
    backend->conv2d_backward(x, w, dy, &dx, dw, db, g);
    const auto want = naive_conv_backward(vx, vw, vdy, kBatch, g);
    const double spatial = static_cast<double>(g.out_h() * g.out_w());
    EXPECT_TRUE(all_close(to_vec(dx), want.dx, 1e-5, 1e-6 * g.patch()));
    EXPECT_TRUE(all_close(to_vec(dw), want.dw, 1e-5, 1e-6 * kBatch * spatial));
    EXPECT_TRUE(all_close(to_vec(db), want.db, 1e-5, 1e-6 * kBatch * spatial));

    // Without dx (the first layer) the parameter gradients are the same.
    Tensor dw2 = backend->empty(w.shape()), db2 = backend->empty({t.oc});
    backend->conv2d_backward(x, w, dy, nullptr, dw2, db2, g);
    EXPECT_EQ(to_vec(dw2), to_vec(dw));
    EXPECT_EQ(to_vec(db2), to_vec(db));
  }
}

TEST(Conv2d, MismatchedShapesThrow) {
  auto backend = make_cpu_backend(1);
  const ConvCase t{3, 4, 7, 6, 3, 1, 1};
  const auto g = geometry(t);
  Tensor x = backend->zeros({2, 3, 7, 6});
  Tensor w_bad = backend->zeros({4, 2, 3, 3});  // wrong input channels
  Tensor w = backend->zeros({4, 3, 3, 3});
  Tensor b = backend->zeros({4});
  Tensor y = backend->zeros({2, 4, 7, 6});
  EXPECT_THROW(backend->conv2d_forward(x, w_bad, b, y, g), Error);
  Tensor x_bad = backend->zeros({2, 3, 6, 6});  // wrong height
  EXPECT_THROW(backend->conv2d_forward(x_bad, w, b, y, g), Error);
  Tensor y_bad = backend->zeros({2, 4, 6, 6});
  EXPECT_THROW(backend->conv2d_forward(x, w, b, y_bad, g), Error);
  Tensor dw = backend->zeros(w.shape()), db = backend->zeros({4});
  EXPECT_THROW(backend->conv2d_backward(x, w_bad, y, nullptr, dw, db, g), Error);
}

// Naive max pooling: the first maximum in row-major window order wins (strict >), its index in
// the input plane is recorded.
void naive_maxpool(const std::vector<float>& x, std::int64_t planes, const Pool2dGeometry& g,
                   std::vector<float>& y, std::vector<std::int32_t>& arg) {
  const auto oh_n = g.out_h(), ow_n = g.out_w();
  y.assign(static_cast<std::size_t>(planes * oh_n * ow_n), 0.0f);
  arg.assign(y.size(), -1);
  for (std::int64_t p = 0; p < planes; ++p)
    for (std::int64_t i = 0; i < oh_n; ++i)
      for (std::int64_t j = 0; j < ow_n; ++j) {
        float best = 0;
        std::int32_t at = -1;
        for (std::int64_t ki = 0; ki < g.kernel; ++ki)
          for (std::int64_t kj = 0; kj < g.kernel; ++kj) {
            const auto idx = (i * g.stride + ki) * g.in_w + j * g.stride + kj;
            const float v = x[p * g.in_h * g.in_w + idx];
            if (at < 0 || v > best) {
              best = v;
              at = static_cast<std::int32_t>(idx);
            }
          }
        y[(p * oh_n + i) * ow_n + j] = best;
        arg[(p * oh_n + i) * ow_n + j] = at;
      }
}

struct PoolCase {
  std::int64_t c, h, w, k, s;
};

TEST(MaxPool2d, ForwardAndBackwardMatchNaive) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(111);
  // 2x2/2, a 7x7 input whose last row and column are dropped, overlapping 3x3/2 and 2x2/1
  // windows (where one input is the max of several windows and backward must accumulate).
  const std::vector<PoolCase> cases = {
      {3, 8, 8, 2, 2}, {2, 7, 7, 2, 2}, {4, 7, 9, 3, 2}, {2, 5, 6, 2, 1}, {1, 6, 6, 3, 3}};
  for (const auto& t : cases) {
    SCOPED_TRACE("C=" + std::to_string(t.c) + " H=" + std::to_string(t.h) + " W=" +
                 std::to_string(t.w) + " K=" + std::to_string(t.k) + " S=" + std::to_string(t.s));
    Pool2dGeometry g;
    g.kernel = t.k;
    g.stride = t.s;
    g.channels = t.c;
    g.in_h = t.h;
    g.in_w = t.w;
    const auto planes = kBatch * t.c;
    const auto vx = random_floats(planes * t.h * t.w, rng);
    Tensor x = from_vec(*backend, {kBatch, t.c, t.h, t.w}, vx);
    const Shape ys{kBatch, t.c, g.out_h(), g.out_w()};
    Tensor y = backend->empty(ys), arg = backend->empty(ys, DType::i32);
    backend->maxpool2d_forward(x, y, arg, g);
    std::vector<float> want_y;
    std::vector<std::int32_t> want_arg;
    naive_maxpool(vx, planes, g, want_y, want_arg);
    EXPECT_EQ(to_vec(y), want_y);
    EXPECT_EQ(to_vec_i32(arg), want_arg);

    const auto vdy = random_floats(ys.numel(), rng);
    Tensor dy = from_vec(*backend, ys, vdy);
    Tensor dx = backend->empty(x.shape());
    backend->fill(dx, 5.0f);  // every element must be written (zero where no max came from)
    backend->maxpool2d_backward(dy, arg, dx, g);
    std::vector<double> want_dx(vx.size(), 0.0);
    const auto out_plane = g.out_h() * g.out_w();
    for (std::int64_t p = 0; p < planes; ++p) {
      for (std::int64_t o = 0; o < out_plane; ++o) {
        want_dx[p * t.h * t.w + want_arg[p * out_plane + o]] += vdy[p * out_plane + o];
      }
    }
    EXPECT_TRUE(all_close(to_vec(dx), want_dx, 1e-6, 1e-6));
  }
}

TEST(MaxPool2d, TiesPickTheFirstMaximumAndNegativeInputsWork) {
  auto backend = make_cpu_backend(1);
  Pool2dGeometry g;
  g.channels = 1;
  g.in_h = 2;
  g.in_w = 4;
  // Window 0 is all equal (first wins); window 1 is all negative.
  const std::vector<float> vx{3, 3, -5, -2, 3, 3, -1, -7};
  Tensor x = from_vec(*backend, {1, 1, 2, 4}, vx);
  Tensor y = backend->empty({1, 1, 1, 2}), arg = backend->empty({1, 1, 1, 2}, DType::i32);
  backend->maxpool2d_forward(x, y, arg, g);
  EXPECT_EQ(to_vec(y), (std::vector<float>{3, -1}));
  EXPECT_EQ(to_vec_i32(arg), (std::vector<std::int32_t>{0, 6}));
}

TEST(MaxPool2d, MismatchedShapesThrow) {
  auto backend = make_cpu_backend(1);
  Pool2dGeometry g;
  g.channels = 2;
  g.in_h = 4;
  g.in_w = 4;
  Tensor x = backend->zeros({1, 2, 4, 4});
  Tensor y_bad = backend->zeros({1, 2, 3, 3}), arg_bad = backend->zeros({1, 2, 3, 3}, DType::i32);
  EXPECT_THROW(backend->maxpool2d_forward(x, y_bad, arg_bad, g), Error);
  Tensor y = backend->zeros({1, 2, 2, 2}), arg_f32 = backend->zeros({1, 2, 2, 2});
  EXPECT_THROW(backend->maxpool2d_forward(x, y, arg_f32, g), Error);  // argmax must be i32
}

}  // namespace
}  // namespace tb::tensor
