#include "core/ds/sparse.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace tb::ds {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// A matrix shape and density to test on.
struct Case {
  std::int64_t rows;
  std::int64_t cols;
  double density;
  bool empty_rows;  // force every third row empty
};

std::vector<Case> cases() {
  std::vector<Case> out;
  const std::vector<std::pair<std::int64_t, std::int64_t>> shapes = {
      {0, 0}, {0, 7}, {7, 0}, {1, 1}, {1, 300}, {300, 1}, {37, 53}, {64, 129}, {131, 500}};
  for (const auto& [rows, cols] : shapes) {
    for (const double density : {0.0, 0.001, 0.01, 0.3, 1.0}) {
      out.push_back({rows, cols, density, false});
    }
    out.push_back({rows, cols, 0.3, true});
  }
  return out;
}

std::string describe(const Case& c) {
  return "[" + std::to_string(c.rows) + " x " + std::to_string(c.cols) +
         "] density=" + std::to_string(c.density) + (c.empty_rows ? " with empty rows" : "");
}

DenseMatrix random_sparse_dense(const Case& c, std::mt19937_64& rng) {
  DenseMatrix d(c.rows, c.cols);
  std::bernoulli_distribution keep(c.density);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (std::int64_t r = 0; r < c.rows; ++r) {
    if (c.empty_rows && r % 3 == 1) continue;
    for (std::int64_t j = 0; j < c.cols; ++j) {
      if (keep(rng)) {
        float v = value(rng);
        d(r, j) = v == 0.0f ? 0.5f : v;
      }
    }
  }
  return d;
}

DenseMatrix random_dense(std::int64_t rows, std::int64_t cols, std::mt19937_64& rng) {
  DenseMatrix d(rows, cols);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < cols; ++j) d(r, j) = value(rng);
  }
  return d;
}

DenseMatrix transposed(const DenseMatrix& m) {
  DenseMatrix t(m.cols(), m.rows());
  for (std::int64_t r = 0; r < m.rows(); ++r) {
    for (std::int64_t j = 0; j < m.cols(); ++j) t(j, r) = m(r, j);
  }
  return t;
}

// Reference x * y in double, with the sum of |terms| of each element, from which the bound on the
// error of a float accumulation follows.
struct Reference {
  std::vector<double> value;
  std::vector<double> bound;
};

Reference reference_product(const DenseMatrix& x, const DenseMatrix& y) {
  Reference ref;
  const std::int64_t rows = x.rows();
  const std::int64_t cols = y.cols();
  ref.value.assign(static_cast<std::size_t>(rows * cols), 0.0);
  ref.bound.assign(static_cast<std::size_t>(rows * cols), 0.0);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t k = 0; k < x.cols(); ++k) {
      const double a = x(r, k);
      if (a == 0.0) continue;
      for (std::int64_t j = 0; j < cols; ++j) {
        ref.value[r * cols + j] += a * y(k, j);
        ref.bound[r * cols + j] += std::fabs(a * y(k, j));
      }
    }
  }
  return ref;
}

// alpha * product + beta * out0 (out0 unread when beta == 0), with a relative bound of 1e-5.
Reference scaled(const Reference& product, const DenseMatrix& out0, float alpha, float beta) {
  Reference ref = product;
  for (std::size_t i = 0; i < ref.value.size(); ++i) {
    const double old = beta == 0.0f ? 0.0 : out0.data()[i];
    ref.value[i] = alpha * product.value[i] + beta * old;
    ref.bound[i] = 1e-5 * (std::fabs(alpha) * product.bound[i] + std::fabs(beta * old)) + 1e-30;
  }
  return ref;
}

void expect_close(const DenseMatrix& got, const Reference& ref, const std::string& what) {
  ASSERT_EQ(static_cast<std::size_t>(got.rows() * got.cols()), ref.value.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < ref.value.size(); ++i) {
    const double err = std::fabs(got.data()[i] - ref.value[i]);
    if (!(err <= ref.bound[i]) && reported++ < 5) {
      ADD_FAILURE() << what << ": element " << i << " = " << got.data()[i] << ", expected "
                    << ref.value[i] << " (bound " << ref.bound[i] << ")";
    }
  }
}

void expect_bitwise_equal(const DenseMatrix& a, const DenseMatrix& b, const std::string& what) {
  ASSERT_EQ(a.rows(), b.rows()) << what;
  ASSERT_EQ(a.cols(), b.cols()) << what;
  if (a.rows() * a.cols() == 0) return;  // empty: data() may be null, which memcmp must not get
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), sizeof(float) * a.rows() * a.cols())) << what;
}

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const tb::Error& e) {
    return e.what();
  }
  return "(no tb::Error thrown)";
}

// ---------------------------------------------------------------------------------------------

TEST(SparseCoo, AddRejectsOutOfRangeIndicesAndKeepsTheMatrix) {
  CooMatrix m(3, 4);
  m.add(2, 3, 1.0f);
  EXPECT_NE(error_of([&] { m.add(3, 0, 1.0f); }).find("row index 3"), std::string::npos);
  EXPECT_NE(error_of([&] { m.add(-1, 0, 1.0f); }).find("row index -1"), std::string::npos);
  EXPECT_NE(error_of([&] { m.add(0, 4, 1.0f); }).find("column index 4"), std::string::npos);
  EXPECT_NE(error_of([&] { m.add(0, -7, 1.0f); }).find("column index -7"), std::string::npos);
  EXPECT_EQ(m.nnz(), 1);
  EXPECT_THROW(CooMatrix(-1, 2), tb::Error);
  EXPECT_THROW(CooMatrix(2, -1), tb::Error);
  CooMatrix empty(0, 5);
  EXPECT_THROW(empty.add(0, 0, 1.0f), tb::Error);
}

TEST(SparseCoo, CoalesceSortsRowMajorAndSumsDuplicatesInInsertionOrder) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 40; ++round) {
    const std::int64_t rows = 1 + rng() % 30;
    const std::int64_t cols = 1 + rng() % 30;
    CooMatrix m(rows, cols);
    DenseMatrix dense(rows, cols);
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    const int adds = static_cast<int>(rng() % 2000);
    for (int k = 0; k < adds; ++k) {
      // Few distinct positions, so most entries are duplicates.
      const std::int64_t r = static_cast<std::int64_t>(rng() % rows);
      const std::int64_t c = static_cast<std::int64_t>(rng() % std::min<std::int64_t>(cols, 4));
      const float v = value(rng);
      m.add(r, c, v);
      dense(r, c) += v;
      EXPECT_FALSE(m.is_coalesced());
    }
    m.coalesce();
    ASSERT_TRUE(m.is_coalesced());
    const auto r = m.row_indices();
    const auto c = m.col_indices();
    for (std::int64_t k = 1; k < m.nnz(); ++k) {
      ASSERT_TRUE(r[k - 1] < r[k] || (r[k - 1] == r[k] && c[k - 1] < c[k])) << "entry " << k;
    }
    DenseMatrix rebuilt(rows, cols);
    for (std::int64_t k = 0; k < m.nnz(); ++k) {
      ASSERT_EQ(rebuilt(r[k], c[k]), 0.0f);
      rebuilt(r[k], c[k]) = m.values()[k];
    }
    // Same additions in the same order as the dense scatter-add: equal, not just close.
    EXPECT_EQ(rebuilt, dense) << "round " << round;
  }
}

TEST(SparseCsr, FromCooAndFromDenseMatchTheDenseMatrix) {
  std::mt19937_64 rng(12);
  for (const Case& c : cases()) {
    const DenseMatrix dense = random_sparse_dense(c, rng);
    CooMatrix coo(c.rows, c.cols);
    // Every entry split in two halves added in shuffled order: duplicates must be summed.
    std::vector<std::pair<std::int64_t, std::int64_t>> where;
    for (std::int64_t r = 0; r < c.rows; ++r) {
      for (std::int64_t j = 0; j < c.cols; ++j) {
        if (dense(r, j) != 0.0f) where.push_back({r, j});
      }
    }
    std::shuffle(where.begin(), where.end(), rng);
    for (const auto& [r, j] : where) coo.add(r, j, dense(r, j) * 0.5f);
    for (const auto& [r, j] : where) coo.add(r, j, dense(r, j) * 0.5f);
    const CsrMatrix from_coo = CsrMatrix::from_coo(coo);
    const CsrMatrix64 from_coo64 = CsrMatrix64::from_coo(coo);
    const CsrMatrix from_dense = CsrMatrix::from_dense(dense);
    EXPECT_NO_THROW(from_coo.validate());
    EXPECT_EQ(from_coo.to_dense(), dense) << describe(c);
    EXPECT_EQ(from_coo64.to_dense(), dense) << describe(c);
    EXPECT_EQ(from_dense, from_coo) << describe(c);
    EXPECT_EQ(from_dense.nnz(), static_cast<std::int64_t>(where.size()));
    EXPECT_EQ(from_dense.bytes(), (c.rows + 1) * 8 + where.size() * (4 + 4));
    EXPECT_EQ(from_coo64.bytes(), (c.rows + 1) * 8 + where.size() * (8 + 4));
  }
}

TEST(SparseCsr, FromDenseDropsZerosButKeepsNaNAndInf) {
  DenseMatrix d(2, 4);
  d(0, 0) = -0.0f;
  d(0, 1) = kNaN;
  d(1, 2) = std::numeric_limits<float>::infinity();
  d(1, 3) = 1e-40f;  // subnormal, not zero
  const CsrMatrix m = CsrMatrix::from_dense(d);
  ASSERT_EQ(m.nnz(), 3);
  EXPECT_EQ(m.col_idx()[0], 1);
  EXPECT_TRUE(std::isnan(m.values()[0]));
  EXPECT_EQ(m.row_cols(1)[0], 2);
  EXPECT_EQ(m.row_cols(1)[1], 3);
  EXPECT_EQ(m.row_ptr()[1], 1);
}

TEST(SparseCsr, TransposeMatchesDenseTransposeAndTwiceIsIdentity) {
  std::mt19937_64 rng(13);
  for (const Case& c : cases()) {
    const DenseMatrix dense = random_sparse_dense(c, rng);
    const CsrMatrix m = CsrMatrix::from_dense(dense);
    const CsrMatrix t = m.transpose();
    EXPECT_NO_THROW(t.validate());
    EXPECT_EQ(t.rows(), c.cols);
    EXPECT_EQ(t.cols(), c.rows);
    EXPECT_EQ(t.to_dense(), transposed(dense)) << describe(c);
    EXPECT_EQ(t.transpose(), m) << describe(c);
    EXPECT_EQ(m.transpose(3), t) << describe(c);
  }
  // Large enough for the threaded counting sort (which starts at 65536 entries).
  const DenseMatrix big = random_sparse_dense({500, 2000, 0.1, true}, rng);
  const CsrMatrix64 m = CsrMatrix64::from_dense(big);
  ASSERT_GT(m.nnz(), 65536);
  const CsrMatrix64 serial = m.transpose(1);
  for (const int threads : {2, 3, 4}) EXPECT_EQ(m.transpose(threads), serial) << threads;
  EXPECT_EQ(serial.transpose(2), m);
  EXPECT_EQ(serial.to_dense(), transposed(big));
}

TEST(SparseCsr, ValidateNamesEachMalformation) {
  // 2 x 3: [[0 1 2], [3 0 0]] stored as rows {1, 2} and {0}.
  const auto check = [](std::int64_t rows, std::int64_t cols, std::vector<std::int64_t> ptr,
                        std::vector<std::int32_t> idx, std::vector<float> val,
                        const std::string& expected) {
    const CsrMatrix m = CsrMatrix::from_arrays_unchecked(rows, cols, ptr, idx, val);
    const std::string message = error_of([&] { m.validate(); });
    EXPECT_NE(message.find(expected), std::string::npos)
        << "expected '" << expected << "' in: " << message;
    EXPECT_THROW(CsrMatrix::from_arrays(rows, cols, ptr, idx, val), tb::Error);
  };
  const CsrMatrix good = CsrMatrix::from_arrays(2, 3, {0, 2, 3}, {1, 2, 0}, {1, 2, 3});
  EXPECT_EQ(good.to_dense()(1, 0), 3.0f);
  check(-1, 3, {0}, {}, {}, "negative size");
  check(2, 3, {0, 2}, {1, 2}, {1, 2}, "row_ptr has 2 entries, expected rows + 1 = 3");
  check(2, 3, {1, 2, 3}, {1, 2, 0}, {1, 2, 3}, "row_ptr[0] = 1");
  check(2, 3, {0, 2, 1}, {1, 2, 0}, {1, 2, 3}, "row_ptr[2] = 1 is less than row_ptr[1] = 2");
  check(2, 3, {0, 2, 3}, {1, 2}, {1, 2, 3}, "col_idx has 2 entries");
  check(2, 3, {0, 2, 3}, {1, 2, 0}, {1, 2}, "values has 2 entries");
  check(2, 3, {0, 2, 3}, {1, 3, 0}, {1, 2, 3}, "col_idx[1] = 3 (row 0) is outside [0, 3)");
  check(2, 3, {0, 2, 3}, {1, 2, -1}, {1, 2, 3}, "col_idx[2] = -1 (row 1) is outside");
  check(2, 3, {0, 2, 3}, {2, 1, 0}, {1, 2, 3}, "col_idx[1] = 1 (row 0) is not greater");
  check(2, 3, {0, 2, 3}, {1, 1, 0}, {1, 2, 3}, "col_idx[1] = 1 (row 0) is not greater");
  // Decreasing row_ptr whose end still matches: caught before the arrays are indexed.
  check(3, 3, {0, 3, 1, 3}, {0, 1, 2}, {1, 2, 3}, "row_ptr[2] = 1 is less than");
  // An int32 CSR whose declared width cannot be indexed by int32.
  check(1, std::int64_t{1} << 32, {0, 0}, {}, {}, "does not fit the column index type");
}

TEST(SparseCsr, ColumnIndexWidthLimits) {
  const std::int64_t limit = std::int64_t{1} << 31;  // int32 indexes columns 0 .. 2^31 - 1
  EXPECT_NO_THROW(CsrMatrix(1, limit));
  EXPECT_THROW(CsrMatrix(1, limit + 1), tb::Error);
  EXPECT_NO_THROW(CsrMatrix64(1, limit + 1));
  CooMatrix wide(1, limit + 1);
  wide.add(0, limit, 2.0f);
  EXPECT_THROW(CsrMatrix::from_coo(wide), tb::Error);
  const CsrMatrix64 m = CsrMatrix64::from_coo(wide);
  EXPECT_EQ(m.col_idx()[0], limit);
  EXPECT_THROW(CsrMatrix(-1, 1), tb::Error);
}

// ---------------------------------------------------------------------------------------------
// Products against dense math

// Every tile width of spmm's row kernel (AVX): 64, 32, 16, 8 and the narrow rest (24 = 16 + 8,
// 100 = 64 + 32 + 4).
const std::vector<std::int64_t> kWidths = {0, 1, 3, 8, 13, 24, 64, 100};
const std::vector<std::pair<float, float>> kScales = {{1.0f, 0.0f}, {0.5f, -2.0f}, {2.0f, 1.0f}};

TEST(SparseProduct, SpmmMatchesDense) {
  std::mt19937_64 rng(21);
  for (const Case& c : cases()) {
    const DenseMatrix dense = random_sparse_dense(c, rng);
    const CsrMatrix a = CsrMatrix::from_dense(dense);
    const CsrMatrix64 a64 = CsrMatrix64::from_dense(dense);
    for (const std::int64_t n : kWidths) {
      const DenseMatrix b = random_dense(c.cols, n, rng);
      const Reference product = reference_product(dense, b);
      for (const auto& [alpha, beta] : kScales) {
        DenseMatrix out = random_dense(c.rows, n, rng);
        const DenseMatrix out0 = out;
        if (beta == 0.0f) std::fill_n(out.data(), out.rows() * out.cols(), kNaN);
        spmm(a, b, out.mutable_view(), alpha, beta);
        const std::string what = "spmm " + describe(c) + " n=" + std::to_string(n);
        expect_close(out, scaled(product, out0, alpha, beta), what);
        DenseMatrix out64 = out0;
        spmm(a64, b, out64.mutable_view(), alpha, beta);
        expect_bitwise_equal(out64, out, what + " (int64 indices)");
      }
    }
  }
}

TEST(SparseProduct, SpmmTransposedMatchesDenseByBothMethods) {
  std::mt19937_64 rng(22);
  for (const Case& c : cases()) {
    const DenseMatrix dense = random_sparse_dense(c, rng);
    const DenseMatrix dense_t = transposed(dense);
    const CsrMatrix a = CsrMatrix::from_dense(dense);
    for (const std::int64_t n : kWidths) {
      const DenseMatrix b = random_dense(c.rows, n, rng);
      const Reference product = reference_product(dense_t, b);
      for (const auto& [alpha, beta] : kScales) {
        const DenseMatrix out0 = random_dense(c.cols, n, rng);
        const Reference ref = scaled(product, out0, alpha, beta);
        DenseMatrix results[2];
        const TransposedMethod methods[2] = {TransposedMethod::kScatter,
                                             TransposedMethod::kTransposeGather};
        for (int m = 0; m < 2; ++m) {
          results[m] = out0;
          spmm_transposed(a, b, results[m].mutable_view(), alpha, beta, 1, methods[m]);
          expect_close(results[m], ref,
                       "spmm_transposed method " + std::to_string(m) + " " + describe(c) +
                           " n=" + std::to_string(n));
        }
      }
    }
  }
}

TEST(SparseProduct, SpmmDenseBtMatchesDense) {
  std::mt19937_64 rng(23);
  std::vector<Case> all = cases();
  all.push_back({40, 5000, 0.0005, false});  // entries < features / 16: the entry-by-entry path
  for (const Case& c : all) {
    const DenseMatrix dense = random_sparse_dense(c, rng);
    const CsrMatrix a = CsrMatrix::from_dense(dense);
    for (const std::int64_t outs : {0, 1, 5, 16, 37, 130}) {  // 130: blocks of 64, 64 and 2
      const DenseMatrix w = random_dense(outs, c.cols, rng);
      const DenseMatrix wt = transposed(w);
      const Reference product = reference_product(dense, wt);
      for (const auto& [alpha, beta] : kScales) {
        DenseMatrix out = random_dense(c.rows, outs, rng);
        const DenseMatrix out0 = out;
        if (beta == 0.0f) std::fill_n(out.data(), out.rows() * out.cols(), kNaN);
        spmm_dense_bt(a, w, out.mutable_view(), alpha, beta);
        expect_close(out, scaled(product, out0, alpha, beta),
                     "spmm_dense_bt " + describe(c) + " out=" + std::to_string(outs));
      }
      expect_close(spmm_dense_bt(a, w), scaled(product, DenseMatrix(), 1.0f, 0.0f),
                   "spmm_dense_bt (returning) " + describe(c) + " out=" + std::to_string(outs));
    }
  }
}

TEST(SparseProduct, DenseTSpmmMatchesDense) {
  std::mt19937_64 rng(24);
  for (const Case& c : cases()) {
    const DenseMatrix dense = random_sparse_dense(c, rng);
    const CsrMatrix a = CsrMatrix::from_dense(dense);
    for (const std::int64_t outs : {0, 1, 7, 16, 70}) {
      const DenseMatrix dy = random_dense(c.rows, outs, rng);
      const DenseMatrix dy_t = transposed(dy);
      const Reference product = reference_product(dy_t, dense);
      for (const auto& [alpha, beta] : kScales) {
        DenseMatrix dw = random_dense(outs, c.cols, rng);
        const DenseMatrix dw0 = dw;
        if (beta == 0.0f) std::fill_n(dw.data(), dw.rows() * dw.cols(), kNaN);
        dense_t_spmm(dy, a, dw.mutable_view(), alpha, beta);
        expect_close(dw, scaled(product, dw0, alpha, beta),
                     "dense_t_spmm " + describe(c) + " out=" + std::to_string(outs));
      }
    }
  }
}

TEST(SparseProduct, RowSparseTransposedProductKeepsOnlyOccurringFeatures) {
  std::mt19937_64 rng(25);
  for (const Case& c : cases()) {
    const DenseMatrix dense = random_sparse_dense(c, rng);
    const CsrMatrix a = CsrMatrix::from_dense(dense);
    const DenseMatrix b = random_dense(c.rows, 13, rng);
    const RowSparseGrad g = spmm_transposed_row_sparse(a, b);
    DenseMatrix full(c.cols, 13);
    spmm_transposed(a, b, full.mutable_view());
    expect_bitwise_equal(g.to_dense(), full, describe(c));
    std::vector<std::int64_t> occurring;
    for (std::int64_t j = 0; j < c.cols; ++j) {
      bool any = false;
      for (std::int64_t r = 0; r < c.rows; ++r) any = any || dense(r, j) != 0.0f;
      if (any) occurring.push_back(j);
    }
    EXPECT_EQ(std::vector<std::int64_t>(g.row_ids().begin(), g.row_ids().end()), occurring);
  }
}

TEST(SparseProduct, ThreadedResultsAreBitwiseSingleThreaded) {
  std::mt19937_64 rng(26);
  // Skewed rows (some dense, many empty) so that the work split moves row boundaries.
  DenseMatrix dense = random_sparse_dense({700, 900, 0.02, true}, rng);
  for (std::int64_t j = 0; j < 900; ++j) dense(5, j) = 0.25f;
  const CsrMatrix a = CsrMatrix::from_dense(dense);
  const DenseMatrix b = random_dense(900, 70, rng);
  const DenseMatrix bt = random_dense(700, 70, rng);
  const DenseMatrix w = random_dense(40, 900, rng);
  const DenseMatrix out0 = random_dense(700, 70, rng);
  const DenseMatrix out0_t = random_dense(900, 70, rng);
  // Under features / 16 entries: spmm_dense_bt's entry-by-entry path.
  const CsrMatrix tiny =
      CsrMatrix::from_dense(random_sparse_dense({300, 20000, 0.0001, false}, rng));
  ASSERT_LT(tiny.nnz() * 16, tiny.cols());
  const DenseMatrix w_tiny = random_dense(33, 20000, rng);
  auto run_all = [&](int threads) {
    std::vector<DenseMatrix> results;
    DenseMatrix c = out0;
    spmm(a, b, c.mutable_view(), 0.5f, 1.5f, threads);
    results.push_back(c);
    for (const TransposedMethod m :
         {TransposedMethod::kScatter, TransposedMethod::kTransposeGather}) {
      DenseMatrix ct = out0_t;
      spmm_transposed(a, bt, ct.mutable_view(), 0.5f, 1.5f, threads, m);
      results.push_back(ct);
    }
    results.push_back(spmm_dense_bt(a, w, threads));
    results.push_back(spmm_dense_bt(tiny, w_tiny, threads));
    results.push_back(dense_t_spmm(bt, a, threads));
    results.push_back(spmm_transposed_row_sparse(a, bt, threads).to_dense());
    return results;
  };
  const std::vector<DenseMatrix> single = run_all(1);
  for (const int threads : {2, 3, 5}) {
    const std::vector<DenseMatrix> many = run_all(threads);
    for (std::size_t k = 0; k < single.size(); ++k) {
      expect_bitwise_equal(many[k], single[k],
                           "op " + std::to_string(k) + " threads " + std::to_string(threads));
    }
  }
}

TEST(SparseProduct, NaNAndInfPropagateLikeDenseMath) {
  DenseMatrix d(3, 3);
  d(0, 1) = kNaN;
  d(2, 2) = std::numeric_limits<float>::infinity();
  d(1, 0) = 1.0f;
  const CsrMatrix a = CsrMatrix::from_dense(d);
  DenseMatrix b(3, 2);
  std::fill_n(b.data(), 6, 1.0f);
  DenseMatrix c(3, 2);
  spmm(a, b, c.mutable_view());
  EXPECT_TRUE(std::isnan(c(0, 0)) && std::isnan(c(0, 1)));
  EXPECT_EQ(c(1, 0), 1.0f);
  EXPECT_EQ(c(2, 1), std::numeric_limits<float>::infinity());
}

TEST(SparseProduct, BadShapesThreadsAndAliasingAreErrors) {
  const CsrMatrix a = CsrMatrix::from_dense(DenseMatrix(4, 6));
  DenseMatrix b(6, 3);
  DenseMatrix c(4, 3);
  DenseMatrix wrong(5, 3);
  EXPECT_NE(
      error_of([&] { spmm(a, wrong, c.mutable_view()); }).find("b is [5 x 3], expected [6 x 3]"),
      std::string::npos);
  EXPECT_NE(error_of([&] { spmm(a, b, wrong.mutable_view()); }).find("c is [5 x 3]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { spmm(a, b, c.mutable_view(), 1, 0, 0); }).find("threads = 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              spmm(a, DenseView{nullptr, 6, 3}, c.mutable_view());
            }).find("null"),
            std::string::npos);
  // c inside b's storage.
  DenseMatrix big(10, 3);
  EXPECT_NE(error_of([&] {
              spmm(a, DenseView{big.data(), 6, 3}, MutableDenseView{big.data() + 6, 4, 3});
            }).find("overlaps"),
            std::string::npos);
  DenseMatrix ct(6, 3);
  EXPECT_THROW(spmm_transposed(a, b, ct.mutable_view()), tb::Error);  // b must be [4 x 3]
  EXPECT_THROW(spmm_dense_bt(a, DenseMatrix(2, 5)), tb::Error);       // w must be [* x 6]
  EXPECT_THROW(dense_t_spmm(DenseMatrix(3, 2), a), tb::Error);        // dy must be [4 x *]
  DenseMatrix dw(2, 5);
  EXPECT_THROW(dense_t_spmm(DenseMatrix(4, 2), a, dw.mutable_view()), tb::Error);
  EXPECT_THROW(spmm_dense_bt(a, DenseView{nullptr, -1, 6}), tb::Error);
  EXPECT_THROW(a.transpose(0), tb::Error);
}

// ---------------------------------------------------------------------------------------------
// RowSparseGrad

void expect_row_sparse_invariants(const RowSparseGrad& g) {
  const auto ids = g.row_ids();
  for (std::size_t k = 0; k < ids.size(); ++k) {
    ASSERT_GE(ids[k], 0);
    ASSERT_LT(ids[k], g.num_rows());
    if (k > 0) {
      ASSERT_LT(ids[k - 1], ids[k]);
    }
  }
  ASSERT_EQ(g.values().size(), ids.size() * static_cast<std::size_t>(g.dim()));
  ASSERT_EQ(g.bytes(), ids.size() * 8 + g.values().size() * 4);
  ASSERT_EQ(g.dense_bytes(), static_cast<std::size_t>(g.num_rows() * g.dim()) * 4);
}

TEST(SparseRowGrad, AccumulateEqualsDenseScatterAdd) {
  std::mt19937_64 rng(31);
  for (const std::int64_t dim : {1, 5, 64}) {
    const std::int64_t rows = 500;
    RowSparseGrad g(rows, dim);
    RowSparseGrad threaded(rows, dim);
    DenseMatrix dense(rows, dim);
    for (int step = 0; step < 60; ++step) {
      // Log-uniform ids below 145: many repeats of small ids, most rows never touched, and now
      // and then a batch of nothing.
      const std::size_t count = step % 17 == 0 ? 0 : rng() % 300;
      std::vector<std::int64_t> ids(count);
      for (auto& id : ids) {
        const double u = std::uniform_real_distribution<>(0.0, 0.8)(rng);
        id = static_cast<std::int64_t>(std::pow(static_cast<double>(rows), u)) - 1;
      }
      const DenseMatrix grads = random_dense(static_cast<std::int64_t>(count), dim, rng);
      g.accumulate(ids, grads);
      threaded.accumulate(ids, grads, 3);
      for (std::size_t k = 0; k < count; ++k) {
        for (std::int64_t t = 0; t < dim; ++t)
          dense(ids[k], t) += grads(static_cast<std::int64_t>(k), t);
      }
      expect_row_sparse_invariants(g);
      expect_bitwise_equal(g.to_dense(), dense, "step " + std::to_string(step));
      expect_bitwise_equal(threaded.to_dense(), dense, "threaded step " + std::to_string(step));
    }
    EXPECT_LE(g.nnz_rows(), 145);
    EXPECT_LT(g.bytes(), g.dense_bytes());
    // add_to applies alpha * gradient to the stored rows only: each element is table + alpha *
    // gradient rounded once (a fused multiply-add, where the compiler contracts it) or twice.
    DenseMatrix table = random_dense(rows, dim, rng);
    const DenseMatrix before = table;
    g.add_to(table.mutable_view(), -0.1f);
    int reported = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t t = 0; t < dim; ++t) {
        const float old = before(r, t), step = -0.1f * dense(r, t);
        const float twice = old + step, once = std::fma(-0.1f, dense(r, t), old);
        const float got = table(r, t);
        if (got != twice && got != once && reported++ < 5) {
          ADD_FAILURE() << "add_to, row " << r << ", column " << t << ": " << got << ", expected "
                        << twice << " (or " << once << " fused)";
        }
      }
    }
    g.clear();
    EXPECT_EQ(g.nnz_rows(), 0);
    EXPECT_EQ(g.bytes(), 0u);
  }
}

TEST(SparseRowGrad, BadIdsAndShapesLeaveTheGradientUnchanged) {
  RowSparseGrad g(10, 2);
  const std::vector<std::int64_t> ids = {3, 3, 1};
  DenseMatrix grads(3, 2);
  std::fill_n(grads.data(), 6, 1.0f);
  g.accumulate(ids, grads);
  const DenseMatrix before = g.to_dense();
  const std::vector<std::int64_t> bad = {2, 10, 4};
  EXPECT_NE(error_of([&] { g.accumulate(bad, grads); }).find("ids[1] = 10"), std::string::npos);
  const std::vector<std::int64_t> negative = {-1, 0, 0};
  EXPECT_NE(error_of([&] { g.accumulate(negative, grads); }).find("ids[0] = -1"),
            std::string::npos);
  EXPECT_THROW(g.accumulate(std::vector<std::int64_t>{1, 2}, grads), tb::Error);
  EXPECT_THROW(g.accumulate(ids, DenseMatrix(3, 3)), tb::Error);
  EXPECT_EQ(g.to_dense(), before);
  EXPECT_EQ(g.to_dense()(3, 0), 2.0f);
  DenseMatrix small(5, 2);
  EXPECT_THROW(g.add_to(small.mutable_view()), tb::Error);
  EXPECT_THROW(RowSparseGrad::from_rows(10, 2, {4, 4}, std::vector<float>(4)), tb::Error);
  EXPECT_THROW(RowSparseGrad::from_rows(10, 2, {5, 2}, std::vector<float>(4)), tb::Error);
  EXPECT_THROW(RowSparseGrad::from_rows(10, 2, {12}, std::vector<float>(2)), tb::Error);
  EXPECT_THROW(RowSparseGrad::from_rows(10, 2, {1}, std::vector<float>(3)), tb::Error);
  EXPECT_THROW(RowSparseGrad(-1, 2), tb::Error);
}

}  // namespace
}  // namespace tb::ds
