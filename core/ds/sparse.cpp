#include "core/ds/sparse.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <string>

#include "core/ds/sparse_checks.h"
#include "core/util/error.h"

namespace tb::ds {
namespace {

using namespace sparse_checks;

// Floats of an output row accumulated in registers while a sparse row is walked: eight vector
// registers, half of the register file, leaving room for the loaded operand and the broadcast.
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
constexpr int kTile = 8 * kLanes;

// spmm_dense_bt reads all of w unless a has fewer than features / kDirectFactor entries: then
// fetching one cache line (16 floats) of w per entry and output costs less.
constexpr std::int64_t kDirectFactor = 16;
// Features per step when spmm_dense_bt transposes a block of w: one cache line of each w row.
constexpr std::int64_t kTransposeChunk = 16;
// Columns of dw that dense_t_spmm builds in a buffer before storing them transposed: 16 floats
// make one cache line of each dw row.
constexpr std::int64_t kGradBlock = 16;

template <typename I>
bool fits_index(std::int64_t count) {
  return count <= 0 || count - 1 <= static_cast<std::int64_t>(std::numeric_limits<I>::max());
}

template <typename I>
const char* index_name() {
  return sizeof(I) == 4 ? "CsrMatrix (int32 column indices)" : "CsrMatrix64";
}

// First row of part `part` out of `parts` when rows are split into ranges of equal work, a row
// costing its entries plus one (writing the output row).
std::int64_t split_row(const std::int64_t* row_ptr, std::int64_t rows, int part, int parts) {
  if (part <= 0) return 0;
  if (part >= parts) return rows;
  const std::int64_t total = row_ptr[rows] + rows;
  const std::int64_t target = total / parts * part + total % parts * part / parts;
  std::int64_t lo = 0;
  std::int64_t hi = rows;
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    if (row_ptr[mid] + mid < target) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Calls row_fn(r) for every row, the rows split over threads in contiguous ranges of equal work.
template <typename RowFn>
void for_each_row(const std::int64_t* row_ptr, std::int64_t rows, int threads, RowFn row_fn) {
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int parts = omp_get_num_threads();
    const int part = omp_get_thread_num();
    const std::int64_t last = split_row(row_ptr, rows, part + 1, parts);
    for (std::int64_t r = split_row(row_ptr, rows, part, parts); r < last; ++r) row_fn(r);
  }
}

// out[0..W) = sum over the row's entries p of val[p] * b[idx[p] * ldb + 0..W), summed in entry
// order from zero. W is a compile-time constant and the accumulator is an array of GCC vector
// values so that it lives in registers for the whole row: with a plain float array GCC 12
// vectorises across entries instead (gathers) and keeps the sums in memory.
#if defined(__GNUC__)
// Rows of b are fetched this many entries ahead: the hardware cannot predict the jumps between
// rows, and with b larger than the caches (100k x 64 floats and up) the prefetch saved 15-25% on
// the bag-of-words benchmarks (4 and 16 did worse).
constexpr std::int64_t kPrefetchDistance = 8;
typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));

template <int W, typename I>
inline void gather_tile(const I* idx, const float* val, std::int64_t k, const float* b,
                        std::int64_t ldb, float* out) {
  static_assert(W % kLanes == 0);
  constexpr int kVectors = W / kLanes;
  Lanes sum[kVectors];
#pragma GCC unroll 32
  for (int t = 0; t < kVectors; ++t) sum[t] = Lanes{};
  for (std::int64_t p = 0; p < k; ++p) {
    const float v = val[p];
    const float* row = b + static_cast<std::int64_t>(idx[p]) * ldb;
    if (p + kPrefetchDistance < k) {
      const float* ahead = b + static_cast<std::int64_t>(idx[p + kPrefetchDistance]) * ldb;
#pragma GCC unroll 32
      for (int t = 0; t < W; t += 16) __builtin_prefetch(ahead + t);
    }
#pragma GCC unroll 32
    for (int t = 0; t < kVectors; ++t) {
      Lanes x;
      std::memcpy(&x, row + t * kLanes, sizeof x);
      sum[t] += v * x;
    }
  }
#pragma GCC unroll 32
  for (int t = 0; t < kVectors; ++t) std::memcpy(out + t * kLanes, &sum[t], sizeof(Lanes));
}
#else
template <int W, typename I>
inline void gather_tile(const I* idx, const float* val, std::int64_t k, const float* b,
                        std::int64_t ldb, float* out) {
  float sum[W] = {};
  for (std::int64_t p = 0; p < k; ++p) {
    const float v = val[p];
    const float* row = b + static_cast<std::int64_t>(idx[p]) * ldb;
    for (int t = 0; t < W; ++t) sum[t] += v * row[t];
  }
  for (int t = 0; t < W; ++t) out[t] = sum[t];
}
#endif

// As gather_tile for the last w < kLanes columns.
template <typename I>
inline void gather_narrow(const I* idx, const float* val, std::int64_t k, const float* b,
                          std::int64_t ldb, int w, float* out) {
  float sum[kLanes] = {};
  for (std::int64_t p = 0; p < k; ++p) {
    const float v = val[p];
    const float* row = b + static_cast<std::int64_t>(idx[p]) * ldb;
    for (int t = 0; t < w; ++t) sum[t] += v * row[t];
  }
  for (int t = 0; t < w; ++t) out[t] = sum[t];
}

// out = alpha * acc + beta * out over w floats; beta == 0 never reads out. Every kernel finishes
// through here so that equal sums give bitwise equal results whichever path produced them.
inline void finish(float* out, const float* acc, std::int64_t w, float alpha, float beta) {
  if (beta == 0.0f) {
    if (alpha == 1.0f) {
      for (std::int64_t t = 0; t < w; ++t) out[t] = acc[t];
    } else {
      for (std::int64_t t = 0; t < w; ++t) out[t] = alpha * acc[t];
    }
  } else {
    for (std::int64_t t = 0; t < w; ++t) out[t] = alpha * acc[t] + beta * out[t];
  }
}

template <int W, typename I>
inline std::int64_t tile_step(const I* idx, const float* val, std::int64_t k, const float* b,
                              std::int64_t ldb, std::int64_t j, float* c, float alpha, float beta) {
  alignas(64) float acc[W];
  gather_tile<W>(idx, val, k, b + j, ldb, acc);
  finish(c + j, acc, W, alpha, beta);
  return j + W;
}

// c[0..n) = alpha * (sparse row) * b[:, 0..n) + beta * c[0..n), b's rows ldb floats apart.
template <typename I>
void spmm_row(const I* idx, const float* val, std::int64_t k, const float* b, std::int64_t ldb,
              std::int64_t n, float* c, float alpha, float beta) {
  std::int64_t j = 0;
  while (j + kTile <= n) j = tile_step<kTile>(idx, val, k, b, ldb, j, c, alpha, beta);
  if (n - j >= kTile / 2) j = tile_step<kTile / 2>(idx, val, k, b, ldb, j, c, alpha, beta);
  if (n - j >= kTile / 4) j = tile_step<kTile / 4>(idx, val, k, b, ldb, j, c, alpha, beta);
  if (n - j >= kTile / 8) j = tile_step<kTile / 8>(idx, val, k, b, ldb, j, c, alpha, beta);
  if (n - j > 0) {
    float acc[kLanes];
    gather_narrow(idx, val, k, b + j, ldb, static_cast<int>(n - j), acc);
    finish(c + j, acc, n - j, alpha, beta);
  }
}

// Arrays of the CSR transpose of a rows x cols CSR matrix, by counting sort. Each part (thread)
// counts the columns of its row range, the counts become per-part offsets within each column, and
// every part scatters its entries into its own slots: a transposed row lists its indices
// ascending, whatever the number of parts. O(nnz + rows + parts * cols).
template <typename I>
void transpose_arrays(const std::int64_t* row_ptr, const I* idx, const float* val,
                      std::int64_t rows, std::int64_t cols, int threads,
                      std::vector<std::int64_t>& out_ptr, std::vector<I>& out_idx,
                      std::vector<float>& out_val) {
  const std::int64_t nnz = row_ptr[rows];
  out_ptr.assign(static_cast<std::size_t>(cols) + 1, 0);
  out_idx.resize(static_cast<std::size_t>(nnz));
  out_val.resize(static_cast<std::size_t>(nnz));
  std::vector<std::int64_t> counts;
  // Below ~64k entries a second thread costs more than it saves.
#pragma omp parallel num_threads(threads) if (threads > 1 && nnz >= 65536)
  {
    const int parts = omp_get_num_threads();
    const int part = omp_get_thread_num();
#pragma omp single
    counts.assign(static_cast<std::size_t>(parts) * cols, 0);
    const std::int64_t r0 = split_row(row_ptr, rows, part, parts);
    const std::int64_t r1 = split_row(row_ptr, rows, part + 1, parts);
    std::int64_t* my_counts = counts.data() + static_cast<std::int64_t>(part) * cols;
    for (std::int64_t p = row_ptr[r0]; p < row_ptr[r1]; ++p) ++my_counts[idx[p]];
#pragma omp barrier
#pragma omp for schedule(static)
    for (std::int64_t j = 0; j < cols; ++j) {
      std::int64_t running = 0;
      for (int t = 0; t < parts; ++t) {
        std::int64_t& slot = counts[static_cast<std::size_t>(t) * cols + j];
        const std::int64_t count = slot;
        slot = running;
        running += count;
      }
      out_ptr[j + 1] = running;
    }
#pragma omp single
    for (std::int64_t j = 0; j < cols; ++j) out_ptr[j + 1] += out_ptr[j];
    // The single's closing barrier publishes out_ptr.
    for (std::int64_t r = r0; r < r1; ++r) {
      for (std::int64_t p = row_ptr[r]; p < row_ptr[r + 1]; ++p) {
        const std::int64_t q = out_ptr[idx[p]] + my_counts[idx[p]]++;
        out_idx[q] = static_cast<I>(r);
        out_val[q] = val[p];
      }
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// DenseMatrix, CooMatrix

DenseMatrix::DenseMatrix(std::int64_t rows, std::int64_t cols) : rows_(rows), cols_(cols) {
  check_dims(rows, cols, "DenseMatrix");
  data_.assign(static_cast<std::size_t>(rows * cols), 0.0f);
}

CooMatrix::CooMatrix(std::int64_t rows, std::int64_t cols) : rows_(rows), cols_(cols) {
  check_dims(rows, cols, "CooMatrix");
}

void CooMatrix::add(std::int64_t r, std::int64_t c, float v) {
  if (r < 0 || r >= rows_) {
    throw Error("CooMatrix::add: row index " + std::to_string(r) + " is outside [0, " +
                std::to_string(rows_) + ")");
  }
  if (c < 0 || c >= cols_) {
    throw Error("CooMatrix::add: column index " + std::to_string(c) + " is outside [0, " +
                std::to_string(cols_) + ")");
  }
  row_.push_back(r);
  col_.push_back(c);
  values_.push_back(v);
  coalesced_ = false;
}

void CooMatrix::reserve(std::size_t nnz) {
  row_.reserve(nnz);
  col_.reserve(nnz);
  values_.reserve(nnz);
}

void CooMatrix::coalesce() {
  if (coalesced_) return;
  const std::size_t n = values_.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  // Stable, so duplicates are summed in insertion order.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    return row_[x] != row_[y] ? row_[x] < row_[y] : col_[x] < col_[y];
  });
  std::vector<std::int64_t> rows;
  std::vector<std::int64_t> cols;
  std::vector<float> values;
  rows.reserve(n);
  cols.reserve(n);
  values.reserve(n);
  for (const std::size_t k : order) {
    if (!rows.empty() && rows.back() == row_[k] && cols.back() == col_[k]) {
      values.back() += values_[k];
    } else {
      rows.push_back(row_[k]);
      cols.push_back(col_[k]);
      values.push_back(values_[k]);
    }
  }
  row_ = std::move(rows);
  col_ = std::move(cols);
  values_ = std::move(values);
  coalesced_ = true;
}

// ---------------------------------------------------------------------------------------------
// CsrMatrixT

template <typename I>
CsrMatrixT<I>::CsrMatrixT() : row_ptr_(1, 0) {}

template <typename I>
CsrMatrixT<I>::CsrMatrixT(std::int64_t rows, std::int64_t cols) : rows_(rows), cols_(cols) {
  check_dims(rows, cols, index_name<I>());
  if (!fits_index<I>(cols)) {
    throw Error(std::string(index_name<I>()) + ": cols = " + std::to_string(cols) +
                " does not fit the column index type");
  }
  row_ptr_.assign(static_cast<std::size_t>(rows) + 1, 0);
}

template <typename I>
CsrMatrixT<I> CsrMatrixT<I>::from_coo(const CooMatrix& coo) {
  CsrMatrixT m(coo.rows(), coo.cols());
  CooMatrix sorted = coo;
  sorted.coalesce();
  const auto rows = sorted.row_indices();
  const auto cols = sorted.col_indices();
  const auto vals = sorted.values();
  for (const std::int64_t r : rows) ++m.row_ptr_[r + 1];
  for (std::int64_t r = 0; r < m.rows_; ++r) m.row_ptr_[r + 1] += m.row_ptr_[r];
  m.col_idx_.resize(cols.size());
  for (std::size_t k = 0; k < cols.size(); ++k) m.col_idx_[k] = static_cast<I>(cols[k]);
  m.values_.assign(vals.begin(), vals.end());
  return m;
}

template <typename I>
CsrMatrixT<I> CsrMatrixT<I>::from_dense(DenseView dense) {
  check_dims(dense.rows, dense.cols, "CsrMatrix::from_dense");
  check_view(dense, dense.rows, dense.cols, "CsrMatrix::from_dense", "dense");
  CsrMatrixT m(dense.rows, dense.cols);
  for (std::int64_t r = 0; r < m.rows_; ++r) {
    const float* row = dense.data + r * m.cols_;
    for (std::int64_t c = 0; c < m.cols_; ++c) {
      if (row[c] != 0.0f) {
        m.col_idx_.push_back(static_cast<I>(c));
        m.values_.push_back(row[c]);
      }
    }
    m.row_ptr_[r + 1] = static_cast<std::int64_t>(m.values_.size());
  }
  return m;
}

template <typename I>
CsrMatrixT<I> CsrMatrixT<I>::from_arrays_unchecked(std::int64_t rows, std::int64_t cols,
                                                   std::vector<std::int64_t> row_ptr,
                                                   std::vector<I> col_idx,
                                                   std::vector<float> values) {
  CsrMatrixT m;
  m.rows_ = rows;
  m.cols_ = cols;
  m.row_ptr_ = std::move(row_ptr);
  m.col_idx_ = std::move(col_idx);
  m.values_ = std::move(values);
  return m;
}

template <typename I>
CsrMatrixT<I> CsrMatrixT<I>::from_arrays(std::int64_t rows, std::int64_t cols,
                                         std::vector<std::int64_t> row_ptr, std::vector<I> col_idx,
                                         std::vector<float> values) {
  CsrMatrixT m =
      from_arrays_unchecked(rows, cols, std::move(row_ptr), std::move(col_idx), std::move(values));
  m.validate();
  return m;
}

template <typename I>
void CsrMatrixT<I>::validate() const {
  const std::string who = index_name<I>();
  auto fail = [&](const std::string& what) { throw Error(who + " is malformed: " + what); };
  if (rows_ < 0 || cols_ < 0) fail("negative size " + shape_text(rows_, cols_));
  if (!fits_index<I>(cols_)) {
    fail("cols = " + std::to_string(cols_) + " does not fit the column index type");
  }
  if (static_cast<std::int64_t>(row_ptr_.size()) != rows_ + 1) {
    fail("row_ptr has " + std::to_string(row_ptr_.size()) +
         " entries, expected rows + 1 = " + std::to_string(rows_ + 1));
  }
  if (row_ptr_[0] != 0) fail("row_ptr[0] = " + std::to_string(row_ptr_[0]) + ", expected 0");
  for (std::int64_t r = 0; r < rows_; ++r) {
    if (row_ptr_[r + 1] < row_ptr_[r]) {
      fail("row_ptr[" + std::to_string(r + 1) + "] = " + std::to_string(row_ptr_[r + 1]) +
           " is less than row_ptr[" + std::to_string(r) + "] = " + std::to_string(row_ptr_[r]) +
           " (row_ptr must not decrease)");
    }
  }
  const std::int64_t nnz = row_ptr_[rows_];
  if (static_cast<std::int64_t>(col_idx_.size()) != nnz) {
    fail("row_ptr[" + std::to_string(rows_) + "] = " + std::to_string(nnz) + " but col_idx has " +
         std::to_string(col_idx_.size()) + " entries");
  }
  if (static_cast<std::int64_t>(values_.size()) != nnz) {
    fail("row_ptr[" + std::to_string(rows_) + "] = " + std::to_string(nnz) + " but values has " +
         std::to_string(values_.size()) + " entries");
  }
  for (std::int64_t r = 0; r < rows_; ++r) {
    for (std::int64_t p = row_ptr_[r]; p < row_ptr_[r + 1]; ++p) {
      const std::int64_t c = col_idx_[p];
      if (c < 0 || c >= cols_) {
        fail("col_idx[" + std::to_string(p) + "] = " + std::to_string(c) + " (row " +
             std::to_string(r) + ") is outside [0, " + std::to_string(cols_) + ")");
      }
      if (p > row_ptr_[r] && c <= static_cast<std::int64_t>(col_idx_[p - 1])) {
        fail("col_idx[" + std::to_string(p) + "] = " + std::to_string(c) + " (row " +
             std::to_string(r) + ") is not greater than the previous column " +
             std::to_string(col_idx_[p - 1]) + " (columns must be strictly ascending in a row)");
      }
    }
  }
}

template <typename I>
DenseMatrix CsrMatrixT<I>::to_dense() const {
  DenseMatrix d(rows_, cols_);
  for (std::int64_t r = 0; r < rows_; ++r) {
    for (std::int64_t p = row_ptr_[r]; p < row_ptr_[r + 1]; ++p) d(r, col_idx_[p]) = values_[p];
  }
  return d;
}

template <typename I>
CsrMatrixT<I> CsrMatrixT<I>::transpose(int threads) const {
  check_threads(threads, "CsrMatrix::transpose");
  if (!fits_index<I>(rows_)) {
    throw Error(std::string(index_name<I>()) + "::transpose: rows = " + std::to_string(rows_) +
                " does not fit the column index type of the transpose");
  }
  CsrMatrixT t;
  t.rows_ = cols_;
  t.cols_ = rows_;
  transpose_arrays(row_ptr_.data(), col_idx_.data(), values_.data(), rows_, cols_, threads,
                   t.row_ptr_, t.col_idx_, t.values_);
  return t;
}

template <typename I>
std::size_t CsrMatrixT<I>::bytes() const {
  return row_ptr_.size() * sizeof(std::int64_t) + col_idx_.size() * sizeof(I) +
         values_.size() * sizeof(float);
}

template class CsrMatrixT<std::int32_t>;
template class CsrMatrixT<std::int64_t>;

// ---------------------------------------------------------------------------------------------
// Products

template <typename I>
void spmm(const CsrMatrixT<I>& a, DenseView b, MutableDenseView c, float alpha, float beta,
          int threads) {
  const char* op = "spmm";
  check_threads(threads, op);
  check_dims(b.rows, b.cols, op);
  check_view(b, a.cols(), b.cols, op, "b");
  check_view(c, a.rows(), b.cols, op, "c");
  check_no_overlap(c, b, op, "c", "b");
  const std::int64_t n = b.cols;
  if (a.rows() == 0 || n == 0) return;
  const std::int64_t* row_ptr = a.row_ptr().data();
  const I* idx = a.col_idx().data();
  const float* val = a.values().data();
  for_each_row(row_ptr, a.rows(), threads, [&](std::int64_t r) {
    spmm_row(idx + row_ptr[r], val + row_ptr[r], row_ptr[r + 1] - row_ptr[r], b.data, n, n,
             c.data + r * n, alpha, beta);
  });
}

namespace {

template <typename I>
void spmm_transposed_scatter(const CsrMatrixT<I>& a, DenseView b, MutableDenseView c, float alpha,
                             float beta, int threads) {
  const std::int64_t n = b.cols;
  const std::int64_t out_rows = a.cols();
  // With beta != 0 the old c is still needed when the sum is complete.
  DenseMatrix scratch;
  if (beta != 0.0f) scratch = DenseMatrix(out_rows, n);
  float* sum = beta != 0.0f ? scratch.data() : c.data;
  const std::int64_t* row_ptr = a.row_ptr().data();
  const I* idx = a.col_idx().data();
  const float* val = a.values().data();
  // Output row boundaries of equal work (entries landing in the range plus one per row).
  std::vector<std::int64_t> bounds;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int parts = omp_get_num_threads();
    const int part = omp_get_thread_num();
#pragma omp single
    {
      bounds.assign(static_cast<std::size_t>(parts) + 1, out_rows);
      bounds[0] = 0;
      if (parts > 1) {
        std::vector<std::int64_t> work(static_cast<std::size_t>(out_rows) + 1, 0);
        for (std::int64_t p = 0; p < a.nnz(); ++p) ++work[idx[p] + 1];
        for (std::int64_t j = 0; j < out_rows; ++j) work[j + 1] += work[j] + 1;
        for (int k = 1; k < parts; ++k) {
          const std::int64_t total = work[out_rows];
          const std::int64_t target = total / parts * k + total % parts * k / parts;
          bounds[k] = std::lower_bound(work.begin(), work.end(), target) - work.begin();
        }
      }
    }
    const std::int64_t j0 = bounds[part];
    const std::int64_t j1 = bounds[part + 1];
    if (j0 < j1) {
      std::fill(sum + j0 * n, sum + j1 * n, 0.0f);
      for (std::int64_t r = 0; r < a.rows(); ++r) {
        const I* first = idx + row_ptr[r];
        const I* last = idx + row_ptr[r + 1];
        if (j0 > 0) first = std::lower_bound(first, last, static_cast<I>(j0));
        const float* src = b.data + r * n;
        for (; first != last && *first < j1; ++first) {
          const float v = val[first - idx];
          float* dst = sum + static_cast<std::int64_t>(*first) * n;
          for (std::int64_t t = 0; t < n; ++t) dst[t] += v * src[t];
        }
      }
      for (std::int64_t j = j0; j < j1; ++j) {
        finish(c.data + j * n, sum + j * n, n, alpha, beta);
      }
    }
  }
}

}  // namespace

template <typename I>
void spmm_transposed(const CsrMatrixT<I>& a, DenseView b, MutableDenseView c, float alpha,
                     float beta, int threads, TransposedMethod method) {
  const char* op = "spmm_transposed";
  check_threads(threads, op);
  check_dims(b.rows, b.cols, op);
  check_view(b, a.rows(), b.cols, op, "b");
  check_view(c, a.cols(), b.cols, op, "c");
  check_no_overlap(c, b, op, "c", "b");
  if (a.cols() == 0 || b.cols == 0) return;
  if (method == TransposedMethod::kAuto) {
    method =
        fits_index<I>(a.rows()) ? TransposedMethod::kTransposeGather : TransposedMethod::kScatter;
  }
  if (method == TransposedMethod::kScatter) {
    spmm_transposed_scatter(a, b, c, alpha, beta, threads);
  } else {
    spmm(a.transpose(threads), b, c, alpha, beta, threads);
  }
}

template <typename I>
void spmm_dense_bt(const CsrMatrixT<I>& a, DenseView w, MutableDenseView c, float alpha, float beta,
                   int threads) {
  const char* op = "spmm_dense_bt";
  check_threads(threads, op);
  check_dims(w.rows, w.cols, op);
  check_view(w, w.rows, a.cols(), op, "w");
  check_view(c, a.rows(), w.rows, op, "c");
  check_no_overlap(c, w, op, "c", "w");
  const std::int64_t rows = a.rows();
  const std::int64_t features = a.cols();
  const std::int64_t outs = w.rows;
  if (rows == 0 || outs == 0) return;
  const std::int64_t* row_ptr = a.row_ptr().data();
  const I* idx = a.col_idx().data();
  const float* val = a.values().data();
  if (a.nnz() * kDirectFactor < features) {
    // Few entries: fetch the weights each entry needs (a cache line each) instead of reading w.
    for_each_row(row_ptr, rows, threads, [&](std::int64_t r) {
      for (std::int64_t o = 0; o < outs; ++o) {
        const float* weights = w.data + o * features;
        float sum = 0.0f;
        for (std::int64_t p = row_ptr[r]; p < row_ptr[r + 1]; ++p) sum += val[p] * weights[idx[p]];
        finish(c.data + r * outs + o, &sum, 1, alpha, beta);
      }
    });
    return;
  }
  const std::int64_t block = std::min<std::int64_t>(kTile, outs);
  std::vector<float> wt(static_cast<std::size_t>(features * block));
  const std::int64_t chunks = (features + kTransposeChunk - 1) / kTransposeChunk;
  for (std::int64_t o0 = 0; o0 < outs; o0 += block) {
    const std::int64_t width = std::min(block, outs - o0);
    // wt[f][o] = w[o0 + o][f]: the block's weights of each feature become one contiguous row.
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (std::int64_t chunk = 0; chunk < chunks; ++chunk) {
      const std::int64_t f0 = chunk * kTransposeChunk;
      const std::int64_t f1 = std::min(features, f0 + kTransposeChunk);
      for (std::int64_t o = 0; o < width; ++o) {
        const float* src = w.data + (o0 + o) * features;
        for (std::int64_t f = f0; f < f1; ++f) wt[f * width + o] = src[f];
      }
    }
    for_each_row(row_ptr, rows, threads, [&](std::int64_t r) {
      spmm_row(idx + row_ptr[r], val + row_ptr[r], row_ptr[r + 1] - row_ptr[r], wt.data(), width,
               width, c.data + r * outs + o0, alpha, beta);
    });
  }
}

template <typename I>
DenseMatrix spmm_dense_bt(const CsrMatrixT<I>& a, DenseView w, int threads) {
  DenseMatrix c(a.rows(), w.rows);
  spmm_dense_bt(a, w, c.mutable_view(), 1.0f, 0.0f, threads);
  return c;
}

template <typename I>
void dense_t_spmm(DenseView dy, const CsrMatrixT<I>& a, MutableDenseView dw, float alpha,
                  float beta, int threads) {
  const char* op = "dense_t_spmm";
  check_threads(threads, op);
  check_dims(dy.rows, dy.cols, op);
  check_view(dy, a.rows(), dy.cols, op, "dy");
  check_view(dw, dy.cols, a.cols(), op, "dw");
  check_no_overlap(dw, dy, op, "dw", "dy");
  const std::int64_t outs = dy.cols;
  const std::int64_t features = a.cols();
  if (outs == 0 || features == 0) return;
  const CsrMatrixT<I> at = a.transpose(threads);
  const std::int64_t* t_ptr = at.row_ptr().data();
  const I* t_idx = at.col_idx().data();
  const float* t_val = at.values().data();
  const std::int64_t blocks = (features + kGradBlock - 1) / kGradBlock;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    std::vector<float> buf(static_cast<std::size_t>(kGradBlock * outs));
    alignas(64) float column[kGradBlock];
#pragma omp for schedule(static)
    for (std::int64_t block = 0; block < blocks; ++block) {
      const std::int64_t f0 = block * kGradBlock;
      const std::int64_t width = std::min(kGradBlock, features - f0);
      for (std::int64_t f = f0; f < f0 + width; ++f) {
        spmm_row(t_idx + t_ptr[f], t_val + t_ptr[f], t_ptr[f + 1] - t_ptr[f], dy.data, outs, outs,
                 buf.data() + (f - f0) * outs, 1.0f, 0.0f);
      }
      for (std::int64_t o = 0; o < outs; ++o) {
        for (std::int64_t t = 0; t < width; ++t) column[t] = buf[t * outs + o];
        finish(dw.data + o * features + f0, column, width, alpha, beta);
      }
    }
  }
}

template <typename I>
DenseMatrix dense_t_spmm(DenseView dy, const CsrMatrixT<I>& a, int threads) {
  DenseMatrix dw(dy.cols, a.cols());
  dense_t_spmm(dy, a, dw.mutable_view(), 1.0f, 0.0f, threads);
  return dw;
}

template <typename I>
RowSparseGrad spmm_transposed_row_sparse(const CsrMatrixT<I>& a, DenseView b, int threads) {
  const char* op = "spmm_transposed_row_sparse";
  check_threads(threads, op);
  check_dims(b.rows, b.cols, op);
  check_view(b, a.rows(), b.cols, op, "b");
  const std::int64_t n = b.cols;
  const CsrMatrixT<I> at = a.transpose(threads);
  std::vector<std::int64_t> ids;
  for (std::int64_t f = 0; f < at.rows(); ++f) {
    if (at.row_ptr()[f + 1] > at.row_ptr()[f]) ids.push_back(f);
  }
  std::vector<float> values(ids.size() * static_cast<std::size_t>(n));
  const std::int64_t count = static_cast<std::int64_t>(ids.size());
  const std::int64_t* t_ptr = at.row_ptr().data();
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t f = ids[k];
    spmm_row(at.col_idx().data() + t_ptr[f], at.values().data() + t_ptr[f], t_ptr[f + 1] - t_ptr[f],
             b.data, n, n, values.data() + k * n, 1.0f, 0.0f);
  }
  return RowSparseGrad::from_rows(a.cols(), n, std::move(ids), std::move(values));
}

#define TB_SPARSE_INSTANTIATE(I)                                                                 \
  template void spmm(const CsrMatrixT<I>&, DenseView, MutableDenseView, float, float, int);      \
  template void spmm_transposed(const CsrMatrixT<I>&, DenseView, MutableDenseView, float, float, \
                                int, TransposedMethod);                                          \
  template void spmm_dense_bt(const CsrMatrixT<I>&, DenseView, MutableDenseView, float, float,   \
                              int);                                                              \
  template DenseMatrix spmm_dense_bt(const CsrMatrixT<I>&, DenseView, int);                      \
  template void dense_t_spmm(DenseView, const CsrMatrixT<I>&, MutableDenseView, float, float,    \
                             int);                                                               \
  template DenseMatrix dense_t_spmm(DenseView, const CsrMatrixT<I>&, int);                       \
  template RowSparseGrad spmm_transposed_row_sparse(const CsrMatrixT<I>&, DenseView, int);

TB_SPARSE_INSTANTIATE(std::int32_t)
TB_SPARSE_INSTANTIATE(std::int64_t)
#undef TB_SPARSE_INSTANTIATE

}  // namespace tb::ds
