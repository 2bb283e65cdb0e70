// Batch normalisation ops against torch.nn.BatchNorm2d's definition, computed in double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
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

constexpr std::int64_t N = 4, C = 3, H = 5, W = 6;
constexpr std::int64_t kCount = N * H * W;  // elements per channel
constexpr float kEps = 1e-5f;
constexpr float kMomentum = 0.1f;

struct ChannelStats {
  std::vector<double> mean, var;  // var is biased (divides by the count)
};

ChannelStats naive_stats(const std::vector<float>& x) {
  ChannelStats s{std::vector<double>(C, 0.0), std::vector<double>(C, 0.0)};
  for (std::int64_t c = 0; c < C; ++c) {
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < H * W; ++i) s.mean[c] += x[(n * C + c) * H * W + i];
    s.mean[c] /= kCount;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < H * W; ++i) {
        const double d = x[(n * C + c) * H * W + i] - s.mean[c];
        s.var[c] += d * d;
      }
    s.var[c] /= kCount;
  }
  return s;
}

struct Fixture {
  std::vector<float> x, gamma, beta;
};

// Inputs off-centre and scaled per channel, so that mean and variance are non-trivial.
Fixture make_inputs(std::mt19937_64& rng) {
  Fixture f;
  f.x = random_floats(N * C * H * W, rng);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t i = 0; i < H * W; ++i) {
        auto& v = f.x[(n * C + c) * H * W + i];
        v = v * static_cast<float>(c + 1) + 2.0f * static_cast<float>(c) - 1.0f;
      }
  f.gamma = random_floats(C, rng, 0.5f, 2.0f);
  f.beta = random_floats(C, rng);
  return f;
}

TEST(BatchNorm, TrainForwardNormalisesAndUpdatesRunningStats) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(201);
  const auto f = make_inputs(rng);
  Tensor x = from_vec(*backend, {N, C, H, W}, f.x);
  Tensor gamma = from_vec(*backend, {C}, f.gamma), beta = from_vec(*backend, {C}, f.beta);
  Tensor y = backend->empty(x.shape());
  Tensor save_mean = backend->empty({C}), save_invstd = backend->empty({C});
  const std::vector<float> rm0{0.5f, -0.25f, 0.0f}, rv0{1.0f, 2.0f, 0.5f};
  Tensor running_mean = from_vec(*backend, {C}, rm0), running_var = from_vec(*backend, {C}, rv0);
  backend->batchnorm_forward_train(x, gamma, beta, y, save_mean, save_invstd, running_mean,
                                   running_var, kMomentum, kEps);

  const auto s = naive_stats(f.x);
  std::vector<double> want_y(f.x.size()), want_invstd(C), want_rm(C), want_rv(C);
  for (std::int64_t c = 0; c < C; ++c) {
    want_invstd[c] = 1.0 / std::sqrt(s.var[c] + kEps);
    want_rm[c] = (1.0 - kMomentum) * rm0[c] + kMomentum * s.mean[c];
    // PyTorch updates the running variance with the UNBIASED batch variance (count - 1).
    const double unbiased = s.var[c] * kCount / (kCount - 1);
    want_rv[c] = (1.0 - kMomentum) * rv0[c] + kMomentum * unbiased;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < H * W; ++i) {
        const auto at = (n * C + c) * H * W + i;
        want_y[at] = f.gamma[c] * (f.x[at] - s.mean[c]) * want_invstd[c] + f.beta[c];
      }
  }
  EXPECT_TRUE(all_close(to_vec(y), want_y, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(to_vec(save_mean), s.mean, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(to_vec(save_invstd), want_invstd, 1e-5, 0));
  EXPECT_TRUE(all_close(to_vec(running_mean), want_rm, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(to_vec(running_var), want_rv, 1e-5, 1e-6));

  // The output's per-channel statistics: mean = beta, (biased) variance = gamma^2 up to eps.
  const auto ys = naive_stats(to_vec(y));
  for (std::int64_t c = 0; c < C; ++c) {
    EXPECT_NEAR(ys.mean[c], f.beta[c], 1e-5) << "channel " << c;
    EXPECT_NEAR(ys.var[c], double(f.gamma[c]) * f.gamma[c], 1e-4 * f.gamma[c] * f.gamma[c])
        << "channel " << c;
  }
}

TEST(BatchNorm, EvalForwardUsesRunningStats) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(202);
  const auto f = make_inputs(rng);
  Tensor x = from_vec(*backend, {N, C, H, W}, f.x);
  Tensor gamma = from_vec(*backend, {C}, f.gamma), beta = from_vec(*backend, {C}, f.beta);
  const std::vector<float> rm{0.3f, 2.0f, -1.0f}, rv{0.5f, 1.5f, 4.0f};
  Tensor running_mean = from_vec(*backend, {C}, rm), running_var = from_vec(*backend, {C}, rv);
  Tensor y = backend->empty(x.shape());
  backend->batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, kEps, y);
  std::vector<double> want(f.x.size());
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t i = 0; i < H * W; ++i) {
        const auto at = (n * C + c) * H * W + i;
        want[at] =
            f.gamma[c] * (f.x[at] - double(rm[c])) / std::sqrt(double(rv[c]) + kEps) + f.beta[c];
      }
  EXPECT_TRUE(all_close(to_vec(y), want, 1e-5, 1e-5));
  // Evaluation leaves the running statistics alone.
  EXPECT_EQ(to_vec(running_mean), rm);
  EXPECT_EQ(to_vec(running_var), rv);
}

TEST(BatchNorm, BackwardMatchesTheClosedForm) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(203);
  const auto f = make_inputs(rng);
  const auto vdy = random_floats(f.x.size(), rng);
  Tensor x = from_vec(*backend, {N, C, H, W}, f.x);
  Tensor gamma = from_vec(*backend, {C}, f.gamma), beta = from_vec(*backend, {C}, f.beta);
  Tensor y = backend->empty(x.shape());
  Tensor save_mean = backend->empty({C}), save_invstd = backend->empty({C});
  Tensor rm = backend->zeros({C}), rv = backend->zeros({C});
  backend->batchnorm_forward_train(x, gamma, beta, y, save_mean, save_invstd, rm, rv, kMomentum,
                                   kEps);
  Tensor dy = from_vec(*backend, x.shape(), vdy);
  Tensor dx = backend->empty(x.shape()), dgamma = backend->empty({C}), dbeta = backend->empty({C});
  backend->fill(dgamma, 42.0f);  // overwritten, not accumulated
  backend->fill(dbeta, 42.0f);
  backend->batchnorm_backward(x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta);

  // Reference, all in double:
  //   dbeta = sum dy, dgamma = sum dy * xhat,
  //   dx = gamma * invstd / m * (m * dy - sum dy - xhat * sum(dy * xhat)).
  const auto s = naive_stats(f.x);
  std::vector<double> want_dx(f.x.size()), want_dg(C, 0.0), want_db(C, 0.0);
  for (std::int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt(s.var[c] + kEps);
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < H * W; ++i) {
        const auto at = (n * C + c) * H * W + i;
        want_db[c] += vdy[at];
        want_dg[c] += vdy[at] * (f.x[at] - s.mean[c]) * invstd;
      }
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < H * W; ++i) {
        const auto at = (n * C + c) * H * W + i;
        const double xhat = (f.x[at] - s.mean[c]) * invstd;
        want_dx[at] =
            f.gamma[c] * invstd / kCount * (kCount * vdy[at] - want_db[c] - xhat * want_dg[c]);
      }
  }
  EXPECT_TRUE(all_close(to_vec(dbeta), want_db, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(to_vec(dgamma), want_dg, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(to_vec(dx), want_dx, 1e-4, 1e-5));
}

TEST(BatchNorm, ChannelMismatchThrows) {
  auto backend = make_cpu_backend(1);
  Tensor x = backend->zeros({2, 3, 4, 4});
  Tensor gamma = backend->zeros({4}), beta = backend->zeros({4});
  Tensor y = backend->zeros(x.shape());
  Tensor a = backend->zeros({4}), b = backend->zeros({4}), rm = backend->zeros({4}),
         rv = backend->zeros({4});
  EXPECT_THROW(backend->batchnorm_forward_train(x, gamma, beta, y, a, b, rm, rv, 0.1f, 1e-5f),
               Error);
  EXPECT_THROW(backend->batchnorm_forward_eval(x, gamma, beta, rm, rv, 1e-5f, y), Error);
}

}  // namespace
}  // namespace tb::tensor
