// SparseLinear and EmbeddingBag against dense reference math (a dense Linear on the densified
// input; a dense embedding gradient by scatter-add), and their gradients by finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/ds/sparse.h"
#include "core/nn/linear.h"
#include "core/nn/sparse.h"
#include "core/util/error.h"

namespace tb::nn {
namespace {

std::vector<float> to_host(Backend& backend, const Tensor& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  backend.download(t, out.data(), out.size() * sizeof(float));
  return out;
}

Tensor from_host(Backend& backend, const std::vector<float>& values, tensor::Shape shape) {
  Tensor t = backend.empty(shape);
  backend.upload(t, values.data(), values.size() * sizeof(float));
  return t;
}

// A random CSR [rows x cols] with about `per_row` entries a row (some rows empty).
ds::CsrMatrix random_csr(std::int64_t rows, std::int64_t cols, int per_row, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  ds::CooMatrix coo(rows, cols);
  for (std::int64_t r = 0; r < rows; ++r) {
    const int k = static_cast<int>(rng() % static_cast<std::uint64_t>(per_row + 1));
    for (int i = 0; i < k; ++i) {
      coo.add(r, static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(cols)),
              static_cast<float>(static_cast<double>(rng() % 2000) / 1000.0 - 1.0));
    }
  }
  return ds::CsrMatrix::from_coo(coo);
}

std::vector<float> random_values(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(static_cast<double>(rng() % 2000) / 1000.0 - 1.0);
  return v;
}

TEST(SparseLinear, MatchesADenseLinearOnTheDensifiedInput) {
  auto backend = tensor::make_cpu_backend(2);
  const std::int64_t n = 7, in = 300, out = 5;
  std::mt19937_64 rng_a(3), rng_b(3);
  SparseLinear sparse(*backend, in, out, rng_a);
  Linear dense(*backend, in, out, rng_b);  // same draws: the same weights and bias
  dense.set_needs_input_grad(false);
  const auto x = random_csr(n, in, 12, 11);
  const auto xd = x.to_dense();
  const Tensor x_dense =
      from_host(*backend, std::vector<float>(xd.data(), xd.data() + n * in), {n, in});

  const auto y_sparse = to_host(*backend, sparse.forward(x));
  const auto y_dense = to_host(*backend, dense.forward(x_dense, true));
  ASSERT_EQ(y_sparse.size(), static_cast<std::size_t>(n * out));
  for (std::size_t i = 0; i < y_sparse.size(); ++i) EXPECT_NEAR(y_sparse[i], y_dense[i], 1e-5f);
  EXPECT_NE(y_sparse[0], 0.0f);

  const Tensor dy = from_host(*backend, random_values(n * out, 5), {n, out});
  sparse.backward(dy);
  dense.backward(dy);
  for (int p = 0; p < 2; ++p) {
    const auto g_sparse = to_host(*backend, sparse.parameters()[p]->grad);
    const auto g_dense = to_host(*backend, dense.parameters()[p]->grad);
    double norm = 0.0;
    for (std::size_t i = 0; i < g_sparse.size(); ++i) {
      EXPECT_NEAR(g_sparse[i], g_dense[i], 1e-5f) << "parameter " << p << " element " << i;
      norm += std::abs(g_sparse[i]);
    }
    EXPECT_GT(norm, 0.1);
  }
}

// L = sum(y * r) for a fixed r: dL/dy = r, so backward(r) gives dL/dparameters.
TEST(SparseLinear, GradientsMatchFiniteDifferences) {
  auto backend = tensor::make_cpu_backend(1);
  const std::int64_t n = 3, in = 6, out = 2;
  std::mt19937_64 rng(9);
  SparseLinear layer(*backend, in, out, rng);
  const auto x = random_csr(n, in, 3, 4);
  const auto r = random_values(n * out, 8);
  auto loss = [&] {
    const auto y = to_host(*backend, layer.forward(x));
    double sum = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) sum += static_cast<double>(y[i]) * r[i];
    return sum;
  };
  layer.forward(x);
  layer.backward(from_host(*backend, r, {n, out}));
  for (Parameter* p : layer.parameters()) {
    const auto grad = to_host(*backend, p->grad);
    auto value = to_host(*backend, p->value);
    for (std::size_t i = 0; i < value.size(); ++i) {
      const float keep = value[i];
      const float h = 1e-2f;
      value[i] = keep + h;
      backend->upload(p->value, value.data(), value.size() * sizeof(float));
      const double up = loss();
      value[i] = keep - h;
      backend->upload(p->value, value.data(), value.size() * sizeof(float));
      const double down = loss();
      value[i] = keep;
      backend->upload(p->value, value.data(), value.size() * sizeof(float));
      EXPECT_NEAR(grad[i], (up - down) / (2 * h), 1e-3) << p->name << "[" << i << "]";
    }
  }
}

// One id per bag, repeated ids and an empty bag; mean and sum.
class EmbeddingBagTest : public ::testing::TestWithParam<EmbeddingBag::Mode> {};

TEST_P(EmbeddingBagTest, MatchesDenseLookupAndScatterAdd) {
  const auto mode = GetParam();
  auto backend = tensor::make_cpu_backend(2);
  const std::int64_t rows = 50, dim = 4;
  std::mt19937_64 rng(1);
  EmbeddingBag bag(*backend, rows, dim, mode, 1.0f, rng);
  // Bags: {3}, {7, 3 (weight 2)}, {}, {49, 0, 3}, {7}.
  const std::vector<std::vector<std::pair<std::int64_t, float>>> bags = {
      {{3, 1.0f}}, {{7, 1.0f}, {3, 2.0f}}, {}, {{49, 1.0f}, {0, 1.0f}, {3, 1.0f}}, {{7, 1.0f}}};
  ds::CooMatrix coo(static_cast<std::int64_t>(bags.size()), rows);
  for (std::size_t n = 0; n < bags.size(); ++n) {
    for (const auto& [id, w] : bags[n]) coo.add(static_cast<std::int64_t>(n), id, w);
  }
  const auto csr = ds::CsrMatrix::from_coo(coo);
  const auto table = to_host(*backend, bag.weight().value);
  const auto y = to_host(*backend, bag.forward(csr));
  const auto n_bags = static_cast<std::int64_t>(bags.size());
  for (std::int64_t n = 0; n < n_bags; ++n) {
    const auto& b = bags[static_cast<std::size_t>(n)];
    // Mean divides by the bag's count of ids: its values summed (the weight-2 entry is an id
    // given twice, as torch.nn.EmbeddingBag would take [7, 3, 3]).
    double count = 0.0;
    for (const auto& entry : b) count += entry.second;
    const double div = mode == EmbeddingBag::Mode::mean && !b.empty() ? count : 1.0;
    for (std::int64_t j = 0; j < dim; ++j) {
      double want = 0.0;
      for (const auto& [id, w] : b) want += w * table[static_cast<std::size_t>(id * dim + j)];
      EXPECT_NEAR(y[static_cast<std::size_t>(n * dim + j)], want / div, 1e-6) << n << "," << j;
    }
  }
  // Backward: dense scatter-add of dy rows into a zero table.
  const auto dy_values = random_values(static_cast<std::size_t>(n_bags * dim), 2);
  bag.backward(from_host(*backend, dy_values, {n_bags, dim}));
  std::vector<double> want(static_cast<std::size_t>(rows * dim), 0.0);
  for (std::int64_t n = 0; n < n_bags; ++n) {
    const auto& b = bags[static_cast<std::size_t>(n)];
    // Mean divides by the bag's count of ids: its values summed (the weight-2 entry is an id
    // given twice, as torch.nn.EmbeddingBag would take [7, 3, 3]).
    double count = 0.0;
    for (const auto& entry : b) count += entry.second;
    const double div = mode == EmbeddingBag::Mode::mean && !b.empty() ? count : 1.0;
    for (const auto& [id, w] : b) {
      for (std::int64_t j = 0; j < dim; ++j) {
        want[static_cast<std::size_t>(id * dim + j)] +=
            w / div * dy_values[static_cast<std::size_t>(n * dim + j)];
      }
    }
  }
  const auto& grad = bag.weight().grad;
  EXPECT_EQ(grad.nnz_rows(), 4);  // ids 0, 3, 7, 49
  EXPECT_EQ(std::vector<std::int64_t>(grad.row_ids().begin(), grad.row_ids().end()),
            (std::vector<std::int64_t>{0, 3, 7, 49}));
  const auto dense = grad.to_dense();
  for (std::int64_t i = 0; i < rows * dim; ++i) {
    EXPECT_NEAR(dense.data()[i], want[static_cast<std::size_t>(i)], 1e-6) << i;
  }
  EXPECT_LT(grad.bytes(), grad.dense_bytes());
}

TEST_P(EmbeddingBagTest, GradientMatchesFiniteDifferences) {
  auto backend = tensor::make_cpu_backend(1);
  const std::int64_t rows = 6, dim = 3;
  std::mt19937_64 rng(5);
  EmbeddingBag bag(*backend, rows, dim, GetParam(), 1.0f, rng);
  ds::CooMatrix coo(3, rows);
  coo.add(0, 1, 1.0f);
  coo.add(0, 4, 0.5f);
  coo.add(1, 1, 1.0f);
  coo.add(2, 5, 1.0f);
  coo.add(2, 2, 1.0f);
  coo.add(2, 1, 1.0f);
  const auto x = ds::CsrMatrix::from_coo(coo);
  const auto r = random_values(3 * dim, 7);
  auto loss = [&] {
    const auto y = to_host(*backend, bag.forward(x));
    double sum = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) sum += static_cast<double>(y[i]) * r[i];
    return sum;
  };
  bag.forward(x);
  bag.backward(from_host(*backend, r, {3, dim}));
  const auto grad = bag.weight().grad.to_dense();
  auto& value = bag.weight().value;
  auto v = to_host(*backend, value);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const float keep = v[i];
    const float h = 1e-2f;
    v[i] = keep + h;
    backend->upload(value, v.data(), v.size() * sizeof(float));
    const double up = loss();
    v[i] = keep - h;
    backend->upload(value, v.data(), v.size() * sizeof(float));
    const double down = loss();
    v[i] = keep;
    backend->upload(value, v.data(), v.size() * sizeof(float));
    EXPECT_NEAR(grad.data()[i], (up - down) / (2 * h), 1e-3) << i;
  }
  // Rows 0 and 3 are never looked up: not stored at all.
  EXPECT_EQ(bag.weight().grad.nnz_rows(), 4);
}

INSTANTIATE_TEST_SUITE_P(Modes, EmbeddingBagTest,
                         ::testing::Values(EmbeddingBag::Mode::sum, EmbeddingBag::Mode::mean));

TEST(SparseModel, BuildsBowAndRecsysAndRejectsMismatchedFields) {
  auto backend = tensor::make_cpu_backend(1);
  ModelSpec bow;
  bow.type = "bow";
  bow.hidden = {16};
  auto model = build_sparse_model(*backend, bow, {1000}, 4, 1);
  EXPECT_EQ(model->describe(), "SparseLinear(1000->16) ReLU Linear(16->4)");
  EXPECT_EQ(model->parameter_count(), 1000 * 16 + 16 + 16 * 4 + 4);
  EXPECT_TRUE(model->sparse_parameters().empty());
  ModelSpec rec;
  rec.type = "recsys";
  rec.hidden = {};
  rec.embedding_dim = 8;
  auto recsys = build_sparse_model(*backend, rec, {100, 200}, 2, 1);
  EXPECT_EQ(recsys->describe(),
            "EmbeddingBag(100x8, sum) EmbeddingBag(200x8, sum) Mul Linear(8->2)");
  ASSERT_EQ(recsys->sparse_parameters().size(), 2u);
  EXPECT_EQ(recsys->sparse_parameters()[1]->name, "0.item.weight");
  EXPECT_THROW(build_sparse_model(*backend, rec, {100}, 2, 1), tb::Error);
  EXPECT_THROW(build_sparse_model(*backend, bow, {100, 200}, 2, 1), tb::Error);
}

}  // namespace
}  // namespace tb::nn
