// Row-sparse SGD and SparseAdam against references written here from their update rules (long
// double), over many steps with repeated and missing ids; untouched rows never change.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/optim/sparse.h"
#include "core/util/error.h"

namespace tb::optim {
namespace {

constexpr std::int64_t kRows = 40;
constexpr std::int64_t kDim = 5;

struct Fixture {
  std::unique_ptr<tensor::Backend> backend = tensor::make_cpu_backend(1);
  nn::SparseParameter table;
  std::vector<long double> ref;  // [rows x dim]
  Fixture() {
    table.name = "0.user.weight";
    table.value = backend->empty({kRows, kDim});
    std::vector<float> init(kRows * kDim);
    std::mt19937_64 rng(1);
    for (auto& v : init) v = static_cast<float>(static_cast<double>(rng() % 2000) / 1000.0 - 1.0);
    backend->upload(table.value, init.data(), init.size() * sizeof(float));
    ref.assign(init.begin(), init.end());
  }
  std::vector<float> values() {
    std::vector<float> out(kRows * kDim);
    backend->download(table.value, out.data(), out.size() * sizeof(float));
    return out;
  }
};

// Step s's batch of ids: repeats (each id drawn from a small range twice), and rows >= 30 never.
std::vector<std::int64_t> batch_ids(int step) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(step) + 100);
  std::vector<std::int64_t> ids;
  for (int k = 0; k < 6; ++k) ids.push_back(static_cast<std::int64_t>(rng() % 30));
  ids.push_back(ids[0]);  // a repeated id
  return ids;
}

ds::RowSparseGrad batch_grad(int step, std::vector<long double>* dense) {
  const auto ids = batch_ids(step);
  std::mt19937_64 rng(static_cast<std::uint64_t>(step) + 7);
  ds::DenseMatrix grads(static_cast<std::int64_t>(ids.size()), kDim);
  for (std::int64_t i = 0; i < grads.rows(); ++i) {
    for (std::int64_t j = 0; j < kDim; ++j) {
      grads(i, j) = static_cast<float>(static_cast<double>(rng() % 2000) / 1000.0 - 1.0);
    }
  }
  ds::RowSparseGrad g(kRows, kDim);
  g.accumulate(ids, grads);
  if (dense) {
    dense->assign(kRows * kDim, 0.0L);
    const auto d = g.to_dense();
    for (std::int64_t i = 0; i < kRows * kDim; ++i)
      (*dense)[static_cast<std::size_t>(i)] = d.data()[i];
  }
  return g;
}

std::vector<bool> touched_rows(int step) {
  std::vector<bool> touched(kRows, false);
  for (auto id : batch_ids(step)) touched[static_cast<std::size_t>(id)] = true;
  return touched;
}

TEST(SparseSgd, MatchesTheUpdateRuleOnTouchedRowsOnly) {
  Fixture f;
  OptimizerSpec spec;
  spec.type = "sgd";
  spec.lr = 0.1;
  spec.momentum = 0.0;
  spec.weight_decay = 0.01;
  auto opt = make_sparse_optimizer({&f.table}, spec);
  EXPECT_EQ(opt->name(), "sparse_sgd");
  const auto initial = f.values();
  for (int step = 1; step <= 60; ++step) {
    std::vector<long double> g;
    f.table.grad = batch_grad(step, &g);
    const double factor = step > 30 ? 0.5 : 1.0;  // a schedule halves the lr halfway
    opt->set_lr_factor(factor);
    opt->step();
    const auto touched = touched_rows(step);
    const long double lr = static_cast<long double>(static_cast<float>(0.1 * factor));
    for (std::int64_t r = 0; r < kRows; ++r) {
      if (!touched[static_cast<std::size_t>(r)]) continue;
      for (std::int64_t j = 0; j < kDim; ++j) {
        auto& p = f.ref[static_cast<std::size_t>(r * kDim + j)];
        p -= lr * (g[static_cast<std::size_t>(r * kDim + j)] + 0.01L * p);
      }
    }
  }
  const auto got = f.values();
  for (std::int64_t i = 0; i < kRows * kDim; ++i) {
    EXPECT_NEAR(got[static_cast<std::size_t>(i)],
                static_cast<double>(f.ref[static_cast<std::size_t>(i)]), 2e-5)
        << i;
  }
  // Rows 30.. were never in a batch: bitwise unchanged, weight decay included.
  for (std::int64_t i = 30 * kDim; i < kRows * kDim; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)], initial[static_cast<std::size_t>(i)]) << i;
  }
  EXPECT_NE(got[0], initial[0]);
}

TEST(SparseSgd, WithoutWeightDecayEqualsTheDenseSgdStep) {
  Fixture f;
  OptimizerSpec spec;
  spec.type = "sgd";
  spec.lr = 0.05;
  spec.momentum = 0.0;
  auto sparse = make_sparse_optimizer({&f.table}, spec);
  // The same table as a dense parameter with the densified gradient.
  nn::Parameter dense{"w", f.backend->empty({kRows, kDim}), f.backend->zeros({kRows, kDim})};
  const auto init = f.values();
  f.backend->upload(dense.value, init.data(), init.size() * sizeof(float));
  auto dense_opt = make_optimizer(*f.backend, {&dense}, spec);
  for (int step = 1; step <= 30; ++step) {
    f.table.grad = batch_grad(step, nullptr);
    const auto d = f.table.grad.to_dense();
    f.backend->upload(dense.grad, d.data(), static_cast<std::size_t>(kRows * kDim) * sizeof(float));
    sparse->step();
    dense_opt->step();
  }
  std::vector<float> want(kRows * kDim);
  f.backend->download(dense.value, want.data(), want.size() * sizeof(float));
  EXPECT_EQ(f.values(), want);
  EXPECT_NE(want, init);
}

TEST(SparseAdam, MatchesTorchSparseAdamLazily) {
  Fixture f;
  OptimizerSpec spec;
  spec.type = "adam";
  spec.lr = 0.01;
  spec.beta1 = 0.9;
  spec.beta2 = 0.999;
  spec.eps = 1e-8;
  auto opt = make_sparse_optimizer({&f.table}, spec);
  EXPECT_EQ(opt->name(), "sparse_adam");
  const auto initial = f.values();
  std::vector<long double> m(kRows * kDim, 0.0L), v(kRows * kDim, 0.0L);
  for (int step = 1; step <= 80; ++step) {
    std::vector<long double> g;
    f.table.grad = batch_grad(step, &g);
    opt->step();
    const auto touched = touched_rows(step);
    const long double bc1 = 1.0L - std::pow(0.9L, step);
    const long double bc2 = 1.0L - std::pow(0.999L, step);
    for (std::int64_t r = 0; r < kRows; ++r) {
      if (!touched[static_cast<std::size_t>(r)]) continue;  // lazy: moments of other rows wait
      for (std::int64_t j = 0; j < kDim; ++j) {
        const auto i = static_cast<std::size_t>(r * kDim + j);
        m[i] = 0.9L * m[i] + 0.1L * g[i];
        v[i] = 0.999L * v[i] + 0.001L * g[i] * g[i];
        f.ref[i] -= 0.01L * std::sqrt(bc2) / bc1 * m[i] / (std::sqrt(v[i]) + 1e-8L);
      }
    }
  }
  const auto got = f.values();
  for (std::int64_t i = 0; i < kRows * kDim; ++i) {
    EXPECT_NEAR(got[static_cast<std::size_t>(i)],
                static_cast<double>(f.ref[static_cast<std::size_t>(i)]), 1e-4)
        << i;
  }
  for (std::int64_t i = 30 * kDim; i < kRows * kDim; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)], initial[static_cast<std::size_t>(i)]) << i;
  }
  // Adam moves touched rows by about lr per step: far from where they started.
  EXPECT_GT(std::abs(got[0] - initial[0]), 0.02);
}

// state() then load_state() into a fresh optimizer over a copy of the table continues exactly as
// the original does; a state that does not fit is refused, naming the buffer, and changes nothing.
TEST(SparseAdam, StateRoundTripContinuesTheSameUpdates) {
  Fixture f;
  OptimizerSpec spec;
  spec.type = "adam";
  spec.lr = 0.01;
  auto opt = make_sparse_optimizer({&f.table}, spec);
  for (int step = 1; step <= 10; ++step) {
    f.table.grad = batch_grad(step, nullptr);
    opt->step();
  }
  const auto state = opt->state();
  EXPECT_EQ(state.step, 10);
  ASSERT_EQ(state.tensors.size(), 2u);
  EXPECT_EQ(state.tensors[0].first, "0.user.weight.exp_avg");
  EXPECT_EQ(state.tensors[1].first, "0.user.weight.exp_avg_sq");
  EXPECT_EQ(state.tensors[1].second.size(), static_cast<std::size_t>(kRows * kDim));

  Fixture copy;
  const auto at_ten = f.values();
  copy.backend->upload(copy.table.value, at_ten.data(), at_ten.size() * sizeof(float));
  auto resumed = make_sparse_optimizer({&copy.table}, spec);
  auto broken = state;
  broken.tensors[1].second.pop_back();
  try {
    resumed->load_state(broken);
    ADD_FAILURE() << "a short exp_avg_sq was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("0.user.weight.exp_avg_sq"), std::string::npos)
        << e.what();
  }
  broken = state;
  broken.tensors.erase(broken.tensors.begin());
  EXPECT_THROW(resumed->load_state(broken), Error);
  EXPECT_EQ(resumed->state().step, 0);  // the failed loads changed nothing
  resumed->load_state(state);
  for (int step = 11; step <= 20; ++step) {
    f.table.grad = batch_grad(step, nullptr);
    copy.table.grad = batch_grad(step, nullptr);
    opt->step();
    resumed->step();
  }
  EXPECT_EQ(copy.values(), f.values());
}

TEST(SparseOptimizer, RejectsWhatRowSparseUpdatesCannotDoNamingTheField) {
  nn::SparseParameter table;
  auto field_of = [&](OptimizerSpec spec) {
    try {
      make_sparse_optimizer({&table}, spec);
    } catch (const tb::Error& e) {
      return std::string(e.what()).substr(0, std::string(e.what()).find(':'));
    }
    return std::string("accepted");
  };
  OptimizerSpec sgd;  // momentum 0.9 by default
  EXPECT_EQ(field_of(sgd), "optimizer.momentum");
  OptimizerSpec adam;
  adam.type = "adam";
  adam.weight_decay = 0.1;
  EXPECT_EQ(field_of(adam), "optimizer.weight_decay");
  adam.weight_decay = 0.0;
  adam.amsgrad = true;
  EXPECT_EQ(field_of(adam), "optimizer.amsgrad");
  OptimizerSpec lion;
  lion.type = "lion";
  EXPECT_EQ(field_of(lion), "optimizer.type");
  OptimizerSpec la;
  la.momentum = 0.0;
  la.lookahead.k = 5;
  EXPECT_EQ(field_of(la), "optimizer.lookahead.k");
  la.lookahead.k = 0;
  EXPECT_EQ(field_of(la), "accepted");
}

}  // namespace
}  // namespace tb::optim
