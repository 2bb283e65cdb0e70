// The same ops on one and on two threads agree: bitwise for elementwise ops (each element is
// computed the same way whoever computes it), within 1e-5 relative for GEMM and convolution
// (where a split could reorder sums).
//
// Sizes are above the backend's parallel grain (32768 elements for elementwise loops, 4096
// outputs for pooling, batch > 1 for convolution) so the two-thread runs really fork.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "core/tensor/backend.h"
#include "tests/core/tensor/test_util.h"

namespace tb::tensor {
namespace {

using test_util::all_close;
using test_util::bitwise_equal;
using test_util::from_vec;
using test_util::labels_tensor;
using test_util::random_floats;
using test_util::random_labels;
using test_util::to_vec;
using test_util::to_vec_i32;

// Runs `op` on a fresh one-thread and a fresh two-thread backend and returns both outputs.
// Eigen's GEMM thread count is process-wide (Eigen::setNbThreads), so set_threads() is called
// again right before each run: that way each run really uses its backend's count.
struct Pair {
  std::vector<float> one, two;
};
Pair run_both(const std::function<std::vector<float>(Backend&)>& op) {
  auto one = make_cpu_backend(1);
  auto two = make_cpu_backend(2);
  Pair r;
  one->set_threads(1);
  r.one = op(*one);
  two->set_threads(2);
  r.two = op(*two);
  return r;
}

constexpr std::int64_t kBig = 100003;  // odd, so the split between threads is uneven

TEST(Threads, ElementwiseOpsAreBitwiseIdentical) {
  std::mt19937_64 rng(501);
  const auto vx = random_floats(kBig, rng), vb = random_floats(kBig, rng);
  const auto vv = random_floats(kBig, rng);

  auto relu = run_both([&](Backend& b) {
    Tensor x = from_vec(b, {kBig}, vx), y = b.empty({kBig}), dx = b.empty({kBig});
    Tensor dy = from_vec(b, {kBig}, vb);
    b.relu_forward(x, y);
    b.relu_backward(y, dy, dx);
    auto out = to_vec(y);
    const auto d = to_vec(dx);
    out.insert(out.end(), d.begin(), d.end());
    return out;
  });
  EXPECT_TRUE(bitwise_equal(relu.one, relu.two)) << "relu";

  auto dropout = run_both([&](Backend& b) {
    Tensor x = from_vec(b, {kBig}, vx), y = b.empty({kBig}), dx = b.empty({kBig});
    b.dropout_forward(x, y, 0.3f, 99);
    b.dropout_backward(x, dx, 0.3f, 99);
    auto out = to_vec(y);
    const auto d = to_vec(dx);
    out.insert(out.end(), d.begin(), d.end());
    return out;
  });
  EXPECT_TRUE(bitwise_equal(dropout.one, dropout.two)) << "dropout";

  auto mul = run_both([&](Backend& b) {
    Tensor x = from_vec(b, {kBig}, vx), y = from_vec(b, {kBig}, vb), out = b.empty({kBig});
    b.mul(x, y, out);
    return to_vec(out);
  });
  EXPECT_TRUE(bitwise_equal(mul.one, mul.two)) << "mul";

  for (bool first : {true, false}) {
    auto sgd = run_both([&](Backend& b) {
      Tensor p = from_vec(b, {kBig}, vx), g = from_vec(b, {kBig}, vb), v = from_vec(b, {kBig}, vv);
      b.sgd_step(p, g, v,
                 {.lr = 0.1f,
                  .momentum = 0.9f,
                  .weight_decay = 0.01f,
                  .nesterov = true,
                  .first_step = first});
      auto out = to_vec(p);
      const auto vel = to_vec(v);
      out.insert(out.end(), vel.begin(), vel.end());
      return out;
    });
    EXPECT_TRUE(bitwise_equal(sgd.one, sgd.two)) << "sgd, first_step=" << first;
  }
  auto plain_sgd = run_both([&](Backend& b) {
    Tensor p = from_vec(b, {kBig}, vx), g = from_vec(b, {kBig}, vb), v;
    b.sgd_step(p, g, v, {.lr = 0.1f, .weight_decay = 0.01f});
    return to_vec(p);
  });
  EXPECT_TRUE(bitwise_equal(plain_sgd.one, plain_sgd.two)) << "plain sgd";
}

TEST(Threads, GemmAgrees) {
  std::mt19937_64 rng(502);
  const std::int64_t m = 256, k = 300, n = 200;
  const auto va = random_floats(m * k, rng), vb = random_floats(k * n, rng);
  const auto vc = random_floats(m * n, rng);
  for (int combo = 0; combo < 4; ++combo) {
    const bool ta = combo & 1, tb_ = combo & 2;
    auto r = run_both([&](Backend& b) {
      Tensor a = from_vec(b, ta ? Shape{k, m} : Shape{m, k}, va);
      Tensor bm = from_vec(b, tb_ ? Shape{n, k} : Shape{k, n}, vb);
      Tensor c = from_vec(b, {m, n}, vc);
      b.gemm(a, ta, bm, tb_, c, 0.5f, 0.25f);
      return to_vec(c);
    });
    EXPECT_TRUE(all_close(r.two, r.one, 1e-5, 1e-5)) << "ta=" << ta << " tb=" << tb_;
  }
}

TEST(Threads, ConvolutionAgrees) {
  std::mt19937_64 rng(503);
  Conv2dGeometry g;
  g.in_channels = 3;
  g.out_channels = 8;
  g.kernel = 3;
  g.stride = 1;
  g.padding = 1;
  g.in_h = 12;
  g.in_w = 12;
  const std::int64_t batch = 7;
  const Shape xs{batch, 3, 12, 12}, ws{8, 3, 3, 3}, ys{batch, 8, 12, 12};
  const auto vx = random_floats(xs.numel(), rng), vw = random_floats(ws.numel(), rng);
  const auto vbias = random_floats(8, rng), vdy = random_floats(ys.numel(), rng);
  auto r = run_both([&](Backend& b) {
    Tensor x = from_vec(b, xs, vx), w = from_vec(b, ws, vw), bias = from_vec(b, {8}, vbias);
    Tensor y = b.empty(ys);
    b.conv2d_forward(x, w, bias, y, g);
    Tensor dy = from_vec(b, ys, vdy);
    Tensor dx = b.empty(xs), dw = b.empty(ws), db = b.empty({8});
    b.conv2d_backward(x, w, dy, &dx, dw, db, g);
    std::vector<float> out = to_vec(y);
    for (const Tensor* t : {&dx, &dw, &db}) {
      const auto v = to_vec(*t);
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  });
  // dw and db are summed per thread and then added: a different order of the same terms.
  EXPECT_TRUE(all_close(r.two, r.one, 1e-5, 1e-5));
}

TEST(Threads, PoolingAndBatchNormAreBitwiseIdentical) {
  std::mt19937_64 rng(504);
  const Shape xs{8, 4, 32, 32};  // 8*4*16*16 = 8192 pooled outputs, above the 4096 grain
  const auto vx = random_floats(xs.numel(), rng);
  const auto vdy = random_floats(xs.numel(), rng);
  Pool2dGeometry pg;
  pg.channels = 4;
  pg.in_h = 32;
  pg.in_w = 32;
  auto pool = run_both([&](Backend& b) {
    Tensor x = from_vec(b, xs, vx);
    const Shape ys{8, 4, 16, 16};
    Tensor y = b.empty(ys), arg = b.empty(ys, DType::i32), dx = b.empty(xs);
    b.maxpool2d_forward(x, y, arg, pg);
    b.maxpool2d_backward(y, arg, dx, pg);  // y as the upstream gradient: any values will do
    auto out = to_vec(y);
    const auto d = to_vec(dx);
    out.insert(out.end(), d.begin(), d.end());
    for (auto a : to_vec_i32(arg)) out.push_back(static_cast<float>(a));
    return out;
  });
  EXPECT_TRUE(bitwise_equal(pool.one, pool.two)) << "maxpool";

  const auto vg = random_floats(4, rng, 0.5f, 1.5f), vbeta = random_floats(4, rng);
  auto bn = run_both([&](Backend& b) {
    Tensor x = from_vec(b, xs, vx), gamma = from_vec(b, {4}, vg), beta = from_vec(b, {4}, vbeta);
    Tensor y = b.empty(xs), mean = b.empty({4}), invstd = b.empty({4});
    Tensor rm = b.zeros({4}), rv = b.zeros({4});
    b.batchnorm_forward_train(x, gamma, beta, y, mean, invstd, rm, rv, 0.1f, 1e-5f);
    Tensor dy = from_vec(b, xs, vdy), dx = b.empty(xs), dg = b.empty({4}), dbeta = b.empty({4});
    b.batchnorm_backward(x, dy, gamma, mean, invstd, dx, dg, dbeta);
    Tensor ye = b.empty(xs);
    b.batchnorm_forward_eval(x, gamma, beta, rm, rv, 1e-5f, ye);
    std::vector<float> out;
    for (const Tensor* t : {&y, &mean, &invstd, &rm, &rv, &dx, &dg, &dbeta, &ye}) {
      const auto v = to_vec(*t);
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  });
  EXPECT_TRUE(bitwise_equal(bn.one, bn.two)) << "batchnorm";
}

TEST(Threads, LossIsIdentical) {
  std::mt19937_64 rng(505);
  const std::int64_t rows = 512, k = 10;
  const auto vl = random_floats(rows * k, rng, -5.0f, 5.0f);
  const auto vy = random_labels(rows, k, rng);
  auto r = run_both([&](Backend& b) {
    Tensor logits = from_vec(b, {rows, k}, vl), labels = labels_tensor(b, vy);
    Tensor probs = b.empty({rows, k}), d = b.empty({rows, k});
    const float loss = b.softmax_cross_entropy_forward(logits, labels, probs);
    b.softmax_cross_entropy_backward(probs, labels, d);
    auto out = to_vec(d);
    out.push_back(loss);
    out.push_back(static_cast<float>(b.count_correct(logits, labels)));
    return out;
  });
  EXPECT_TRUE(bitwise_equal(r.one, r.two));
}

}  // namespace
}  // namespace tb::tensor
