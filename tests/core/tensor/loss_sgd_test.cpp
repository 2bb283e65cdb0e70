// Softmax cross-entropy, count_correct and the fused SGD update against double references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
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
using test_util::labels_tensor;
using test_util::random_floats;
using test_util::random_labels;
using test_util::to_vec;

// Mean over rows of logsumexp(l) - l[y], and the softmax, in double.
double naive_cross_entropy(const std::vector<float>& logits, const std::vector<std::int32_t>& y,
                           std::int64_t k, std::vector<double>* probs = nullptr) {
  const auto rows = static_cast<std::int64_t>(y.size());
  double total = 0.0;
  if (probs) probs->assign(logits.size(), 0.0);
  for (std::int64_t r = 0; r < rows; ++r) {
    double max = -INFINITY;
    for (std::int64_t j = 0; j < k; ++j) max = std::max(max, double(logits[r * k + j]));
    double sum = 0.0;
    for (std::int64_t j = 0; j < k; ++j) sum += std::exp(double(logits[r * k + j]) - max);
    const double lse = max + std::log(sum);
    total += lse - logits[r * k + y[r]];
    if (probs) {
      for (std::int64_t j = 0; j < k; ++j) (*probs)[r * k + j] = std::exp(logits[r * k + j] - lse);
    }
  }
  return total / static_cast<double>(rows);
}

TEST(SoftmaxCrossEntropy, ForwardMatchesLogSumExp) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(301);
  for (std::int64_t k : {2, 10, 37}) {
    SCOPED_TRACE("classes=" + std::to_string(k));
    const std::int64_t rows = 16;
    const auto vl = random_floats(rows * k, rng, -4.0f, 4.0f);
    const auto vy = random_labels(rows, static_cast<std::int32_t>(k), rng);
    Tensor logits = from_vec(*backend, {rows, k}, vl);
    Tensor labels = labels_tensor(*backend, vy);
    Tensor probs = backend->empty({rows, k});
    const float loss = backend->softmax_cross_entropy_forward(logits, labels, probs);
    std::vector<double> want_probs;
    const double want = naive_cross_entropy(vl, vy, k, &want_probs);
    EXPECT_NEAR(loss, want, 1e-5 * std::max(1.0, want));
    EXPECT_TRUE(all_close(to_vec(probs), want_probs, 1e-5, 1e-7));
    // Each row of probabilities sums to one.
    const auto p = to_vec(probs);
    for (std::int64_t r = 0; r < rows; ++r) {
      double sum = 0.0;
      for (std::int64_t j = 0; j < k; ++j) sum += p[r * k + j];
      EXPECT_NEAR(sum, 1.0, 1e-5) << "row " << r;
    }
  }
}

TEST(SoftmaxCrossEntropy, HugeLogitsStayFinite) {
  auto backend = make_cpu_backend(1);
  // exp(1000) overflows float (and double); a stable implementation subtracts the row max.
  const std::vector<float> vl{1000.0f, 0.0f,     -1000.0f,  // label 1: loss 1000
                              1000.0f, 999.0f,   998.0f,    // label 0: loss log(1+e^-1+e^-2)
                              -1000.f, -1000.0f, -1000.0f,  // label 2: loss log 3
                              5e4f,    -5e4f,    0.0f};     // label 0: loss ~0
  const std::vector<std::int32_t> vy{1, 0, 2, 0};
  Tensor logits = from_vec(*backend, {4, 3}, vl);
  Tensor labels = labels_tensor(*backend, vy);
  Tensor probs = backend->empty({4, 3});
  const float loss = backend->softmax_cross_entropy_forward(logits, labels, probs);
  ASSERT_TRUE(std::isfinite(loss));
  const double want =
      (1000.0 + std::log(1.0 + std::exp(-1.0) + std::exp(-2.0)) + std::log(3.0)) / 4;
  EXPECT_NEAR(loss, want, 1e-4 * want);
  for (float p : to_vec(probs)) {
    EXPECT_TRUE(std::isfinite(p));
    EXPECT_GE(p, 0.0f);
    EXPECT_LE(p, 1.0f);
  }
  EXPECT_NEAR(to_vec(probs)[0], 1.0f, 1e-6);
  EXPECT_NEAR(to_vec(probs)[6], 1.0f / 3.0f, 1e-6);

  Tensor dlogits = backend->empty({4, 3});
  backend->softmax_cross_entropy_backward(probs, labels, dlogits);
  for (float d : to_vec(dlogits)) EXPECT_TRUE(std::isfinite(d));
}

TEST(SoftmaxCrossEntropy, LabelOutOfRangeThrowsNamingIt) {
  auto backend = make_cpu_backend(1);
  Tensor logits = backend->zeros({3, 5});
  Tensor probs = backend->empty({3, 5});
  for (std::int32_t bad : {5, -1, 1000}) {
    SCOPED_TRACE("label " + std::to_string(bad));
    Tensor labels = labels_tensor(*backend, {0, bad, 2});
    try {
      backend->softmax_cross_entropy_forward(logits, labels, probs);
      ADD_FAILURE() << "label " << bad << " with 5 classes was accepted";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("label " + std::to_string(bad)), std::string::npos) << msg;
      EXPECT_NE(msg.find("row 1"), std::string::npos) << msg;
    }
  }
  // Labels are i32: float labels are refused, not reinterpreted.
  Tensor float_labels = backend->zeros({3});
  EXPECT_THROW(backend->softmax_cross_entropy_forward(logits, float_labels, probs), Error);
  // Labels must be one per row.
  Tensor short_labels = labels_tensor(*backend, {0, 1});
  EXPECT_THROW(backend->softmax_cross_entropy_forward(logits, short_labels, probs), Error);
}

TEST(SoftmaxCrossEntropy, BackwardIsProbsMinusOneHotOverN) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(302);
  const std::int64_t rows = 12, k = 7;
  const auto vl = random_floats(rows * k, rng, -3.0f, 3.0f);
  const auto vy = random_labels(rows, k, rng);
  Tensor logits = from_vec(*backend, {rows, k}, vl);
  Tensor labels = labels_tensor(*backend, vy);
  Tensor probs = backend->empty({rows, k}), dlogits = backend->empty({rows, k});
  backend->softmax_cross_entropy_forward(logits, labels, probs);
  backend->softmax_cross_entropy_backward(probs, labels, dlogits);
  std::vector<double> want_probs;
  naive_cross_entropy(vl, vy, k, &want_probs);
  std::vector<double> want(want_probs.size());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < k; ++j)
      want[r * k + j] = (want_probs[r * k + j] - (j == vy[r] ? 1.0 : 0.0)) / rows;
  EXPECT_TRUE(all_close(to_vec(dlogits), want, 1e-5, 1e-7));
  // Each row of the gradient sums to zero.
  const auto d = to_vec(dlogits);
  for (std::int64_t r = 0; r < rows; ++r) {
    double sum = 0.0;
    for (std::int64_t j = 0; j < k; ++j) sum += d[r * k + j];
    EXPECT_NEAR(sum, 0.0, 1e-6);
  }
}

TEST(CountCorrect, CountsArgMaxEqualToLabel) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(303);
  const std::int64_t rows = 50, k = 6;
  const auto vl = random_floats(rows * k, rng);
  auto vy = random_labels(rows, k, rng);
  std::int64_t want = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto best =
        std::max_element(vl.begin() + r * k, vl.begin() + (r + 1) * k) - (vl.begin() + r * k);
    if (r % 3 == 0) vy[r] = static_cast<std::int32_t>(best);  // make a third surely correct
    want += (best == vy[r]);
  }
  ASSERT_GE(want, rows / 3);
  Tensor logits = from_vec(*backend, {rows, k}, vl);
  EXPECT_EQ(backend->count_correct(logits, labels_tensor(*backend, vy)), want);
}

// sgd_step against the formula in SgdStep's comment, evaluated in double from the same floats.
void check_sgd_step(const SgdStep& s, std::uint64_t seed) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(seed);
  const std::int64_t n = 257;
  const auto p0 = random_floats(n, rng), g = random_floats(n, rng), v0 = random_floats(n, rng);
  Tensor p = from_vec(*backend, {n}, p0), grad = from_vec(*backend, {n}, g),
         v = from_vec(*backend, {n}, v0);
  backend->sgd_step(p, grad, v, s);
  std::vector<double> want_p(n), want_v(n);
  for (std::int64_t i = 0; i < n; ++i) {
    const double d = double(g[i]) + double(s.weight_decay) * p0[i];
    double step = d;
    want_v[i] = v0[i];
    if (s.momentum != 0.0f) {
      const double buf =
          s.first_step ? d : double(s.momentum) * v0[i] + (1.0 - double(s.dampening)) * d;
      want_v[i] = buf;
      step = s.nesterov ? d + double(s.momentum) * buf : buf;
    }
    want_p[i] = p0[i] - double(s.lr) * step;
  }
  EXPECT_TRUE(all_close(to_vec(p), want_p, 1e-6, 1e-7));
  // With momentum 0 the velocity is not state at all and must be left untouched.
  EXPECT_TRUE(all_close(to_vec(v), want_v, 1e-6, 1e-7));
}

TEST(SgdStep, Plain) {
  check_sgd_step({.lr = 0.1f}, 401);
}

TEST(SgdStep, WeightDecay) {
  check_sgd_step({.lr = 0.05f, .weight_decay = 0.1f}, 402);
}

TEST(SgdStep, MomentumFirstStepCopiesTheGradient) {
  // First step: buf = g, ignoring both the old velocity and dampening.
  check_sgd_step({.lr = 0.1f, .momentum = 0.9f, .first_step = true}, 403);
  check_sgd_step({.lr = 0.1f, .momentum = 0.9f, .dampening = 0.5f, .first_step = true}, 404);
}

TEST(SgdStep, MomentumLaterSteps) {
  check_sgd_step({.lr = 0.1f, .momentum = 0.9f, .first_step = false}, 405);
  check_sgd_step({.lr = 0.1f, .momentum = 0.5f, .weight_decay = 0.01f, .first_step = false}, 406);
}

TEST(SgdStep, Dampening) {
  check_sgd_step({.lr = 0.1f, .momentum = 0.9f, .dampening = 0.5f, .first_step = false}, 407);
  check_sgd_step({.lr = 0.2f, .momentum = 0.7f, .dampening = 1.0f, .first_step = false}, 408);
}

TEST(SgdStep, Nesterov) {
  check_sgd_step({.lr = 0.1f, .momentum = 0.9f, .nesterov = true, .first_step = true}, 409);
  check_sgd_step({.lr = 0.1f, .momentum = 0.9f, .nesterov = true, .first_step = false}, 410);
  check_sgd_step(
      {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.05f, .nesterov = true, .first_step = false},
      411);
}

TEST(SgdStep, MismatchedGradientThrows) {
  auto backend = make_cpu_backend(1);
  Tensor p = backend->zeros({4}), g = backend->zeros({5}), v = backend->zeros({4});
  EXPECT_THROW(backend->sgd_step(p, g, v, {}), Error);
  Tensor g_ok = backend->zeros({4}), v_bad = backend->zeros({3});
  EXPECT_THROW(backend->sgd_step(p, g_ok, v_bad, {.momentum = 0.9f}), Error);
}

}  // namespace
}  // namespace tb::tensor
