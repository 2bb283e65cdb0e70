// Sparse float matrices for the engine's sparse inputs and gradients: bag-of-words features fed to
// a Linear layer (y = x W^T and its weight gradient dW = dy^T x) and Embedding's row-sparse
// gradient.
//
//   CooMatrix      triplets (row, col, value) as they arrive; duplicates allowed until coalesce().
//   CsrMatrixT<I>  compressed sparse rows with column indices of type I; CsrMatrix uses int32
//                  column indices (half the index memory), CsrMatrix64 int64 ones.
//   DenseMatrix    an owning row-major float matrix; DenseView / MutableDenseView borrow one.
//   RowSparseGrad  a gradient that is non-zero only in some rows of a [num_rows x dim] table.
//
// Conventions shared by every function here:
// - Dense operands are contiguous row-major float matrices passed as views; a view's data must stay
//   valid for the call only. Nothing keeps a pointer after returning.
// - Shapes are checked: a mismatch, a negative size or a null pointer for a non-empty view throws
//   tb::Error naming the operand, its shape and the expected one. An output that overlaps an input
//   also throws: the kernels read inputs after writing outputs.
// - alpha/beta follow BLAS: out = alpha * product + beta * out, and beta == 0 means out is written
//   without being read (NaN or garbage already in out does not propagate).
// - NaN and Inf values are stored as given and propagate as in dense arithmetic. Explicit zeros
//   in a CSR or a coalesced COO stay stored entries; from_dense() drops exact zeros (+0 and -0).
// - `threads` is the number of OpenMP threads an operation may use (>= 1, else tb::Error). Every
//   result is bitwise identical for every thread count: work is split by output rows or output
//   blocks, so each output element is summed by the same code in the same order whatever the
//   split. (Different functions or methods computing the same product agree to rounding only.)
// - Summation order: each output element of a product is accumulated over the shared dimension in
//   ascending index order, starting from zero, then scaled by alpha and combined with beta * out.
// - Spans returned by accessors stay valid until the object is modified (CooMatrix::add and
//   coalesce, RowSparseGrad::accumulate and clear), assigned to, moved from or destroyed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tb::ds {

// Borrowed read-only row-major matrix: element (r, c) is data[r * cols + c].
struct DenseView {
  const float* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
};

// Borrowed writable row-major matrix.
struct MutableDenseView {
  float* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;

  operator DenseView() const { return {data, rows, cols}; }
};

// Owning row-major float matrix, zero-filled on construction.
class DenseMatrix {
 public:
  DenseMatrix() = default;
  // Throws tb::Error if rows or cols is negative.
  DenseMatrix(std::int64_t rows, std::int64_t cols);

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  // Unchecked element access.
  float& operator()(std::int64_t r, std::int64_t c) { return data_[r * cols_ + c]; }
  float operator()(std::int64_t r, std::int64_t c) const { return data_[r * cols_ + c]; }

  DenseView view() const { return {data_.data(), rows_, cols_}; }
  MutableDenseView mutable_view() { return {data_.data(), rows_, cols_}; }
  operator DenseView() const { return view(); }

  friend bool operator==(const DenseMatrix&, const DenseMatrix&) = default;

 private:
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
  std::vector<float> data_;
};

// Coordinate-format matrix: three parallel arrays. Entries keep insertion order until coalesce().
class CooMatrix {
 public:
  CooMatrix() = default;
  // An empty rows x cols matrix. Throws tb::Error if rows or cols is negative.
  CooMatrix(std::int64_t rows, std::int64_t cols);

  // Appends (r, c, v). Throws tb::Error naming the index and the valid range if r is not in
  // [0, rows) or c not in [0, cols); the matrix is unchanged then. Amortised O(1). Marks the
  // matrix not coalesced.
  void add(std::int64_t r, std::int64_t c, float v);
  void reserve(std::size_t nnz);

  // Sorts entries row-major (by row, then column) and sums entries with the same (row, col) in
  // insertion order, so the result is deterministic. Sums that come out zero stay stored.
  // O(nnz log nnz) time, O(nnz) extra memory; O(1) when already coalesced.
  void coalesce();
  // True after coalesce() and until the next add(); an empty matrix is coalesced.
  bool is_coalesced() const { return coalesced_; }

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  std::int64_t nnz() const { return static_cast<std::int64_t>(values_.size()); }
  std::span<const std::int64_t> row_indices() const { return row_; }
  std::span<const std::int64_t> col_indices() const { return col_; }
  std::span<const float> values() const { return values_; }

 private:
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
  std::vector<std::int64_t> row_;
  std::vector<std::int64_t> col_;
  std::vector<float> values_;
  bool coalesced_ = true;
};

// Compressed sparse row matrix. Row r's entries are col_idx[row_ptr[r] .. row_ptr[r+1]) with the
// matching values, columns strictly ascending within a row. Every constructor and factory except
// from_arrays_unchecked() yields a matrix that satisfies validate(); the structure is immutable
// afterwards (only values can be changed), so it stays valid.
template <typename ColIndex>
class CsrMatrixT {
 public:
  using Index = ColIndex;

  // 0 x 0.
  CsrMatrixT();
  // All-zero rows x cols matrix (no stored entries). Throws tb::Error if a size is negative or
  // cols does not fit ColIndex.
  CsrMatrixT(std::int64_t rows, std::int64_t cols);

  // From triplets: coalesces a copy (duplicates summed in insertion order), O(nnz log nnz).
  // Throws tb::Error if coo.cols() does not fit ColIndex.
  static CsrMatrixT from_coo(const CooMatrix& coo);
  // Keeps every element that is not == 0 (NaN is kept). O(rows * cols).
  static CsrMatrixT from_dense(DenseView dense);
  // Adopts arrays built elsewhere (a file, another library) and validate()s them: throws
  // tb::Error describing the first malformation found. O(rows + nnz).
  static CsrMatrixT from_arrays(std::int64_t rows, std::int64_t cols,
                                std::vector<std::int64_t> row_ptr, std::vector<ColIndex> col_idx,
                                std::vector<float> values);
  // As from_arrays without the check, for producers that guarantee the structure. Any operation
  // other than validate() on a malformed matrix is undefined behaviour.
  static CsrMatrixT from_arrays_unchecked(std::int64_t rows, std::int64_t cols,
                                          std::vector<std::int64_t> row_ptr,
                                          std::vector<ColIndex> col_idx, std::vector<float> values);

  // Throws tb::Error naming the first violated rule and where: a negative size, cols too large for
  // ColIndex, row_ptr size != rows + 1, row_ptr[0] != 0, row_ptr decreasing, row_ptr[rows] !=
  // number of column indices or != number of values, a column outside [0, cols), or columns not
  // strictly ascending within a row (a duplicate column counts as unsorted). O(rows + nnz).
  void validate() const;

  // Dense rows x cols copy. O(rows * cols + nnz).
  DenseMatrix to_dense() const;
  // CSR of the transpose (cols x rows) by counting sort: O(nnz + rows + cols) time and memory,
  // parallel over row ranges when threads > 1 (per-thread column counts, O(threads * cols) extra
  // memory). Rows of the result list their columns ascending, so transpose().transpose() equals
  // the original exactly. Throws tb::Error if rows does not fit ColIndex.
  CsrMatrixT transpose(int threads = 1) const;

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  std::int64_t nnz() const { return static_cast<std::int64_t>(values_.size()); }
  std::span<const std::int64_t> row_ptr() const { return row_ptr_; }
  std::span<const ColIndex> col_idx() const { return col_idx_; }
  std::span<const float> values() const { return values_; }
  // Values may be changed in place; the structure may not.
  std::span<float> mutable_values() { return values_; }
  // Row r's column indices and values (unchecked r).
  std::span<const ColIndex> row_cols(std::int64_t r) const {
    return {col_idx_.data() + row_ptr_[r], static_cast<std::size_t>(row_ptr_[r + 1] - row_ptr_[r])};
  }
  std::span<const float> row_values(std::int64_t r) const {
    return {values_.data() + row_ptr_[r], static_cast<std::size_t>(row_ptr_[r + 1] - row_ptr_[r])};
  }
  // Bytes held by the three arrays (sizes, not capacities).
  std::size_t bytes() const;

  friend bool operator==(const CsrMatrixT&, const CsrMatrixT&) = default;

 private:
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
  std::vector<std::int64_t> row_ptr_;
  std::vector<ColIndex> col_idx_;
  std::vector<float> values_;
};

using CsrMatrix = CsrMatrixT<std::int32_t>;
using CsrMatrix64 = CsrMatrixT<std::int64_t>;
extern template class CsrMatrixT<std::int32_t>;
extern template class CsrMatrixT<std::int64_t>;

// c [a.rows x n] = alpha * a * b + beta * c, b [a.cols x n].
// Rows of c are split over threads in ranges of equal (nnz + rows) work; each c row is computed
// in column tiles kept in registers while a's row is walked (no re-read of c per entry), with
// the b row of the entry 8 ahead prefetched. O(a.rows * n + a.nnz * n).
template <typename I>
void spmm(const CsrMatrixT<I>& a, DenseView b, MutableDenseView c, float alpha = 1.0f,
          float beta = 0.0f, int threads = 1);

// How spmm_transposed computes a^T * b.
enum class TransposedMethod {
  kAuto,            // kTransposeGather; see spmm_transposed for why.
  kScatter,         // walk a's rows, c row a.col += v * b row: no extra memory but a
                    // read-modify-write of a c row per entry; threads split c's rows (a column
                    // range of a each, found by binary search in every row of a).
  kTransposeGather  // a.transpose(threads), then spmm: O(nnz + rows + cols) extra memory, register
                    // accumulation, c written once.
};

// c [a.cols x n] = alpha * a^T * b + beta * c, b [a.rows x n], without the caller materialising
// a^T. Both methods sum each c element over a's rows in ascending order; they agree to rounding
// (the compiler may fuse a multiply-add in one kernel and not in the other). With beta != 0
// kScatter builds the product in a temporary of c's size first.
// kAuto uses kTransposeGather: in bench_ds_sparse (single thread) the counting-sort transpose
// plus register accumulation beat the scatter's per-entry c row traffic 2.0-4.3x on the
// bag-of-words shapes (4096 x 100k, 0.1% and 1%, 64 and 256 wide) and tied it (0.95-1.1x) on a
// 50k x 50k matrix with 5 entries per row. Both methods thread without atomics or per-thread
// copies of c: kTransposeGather splits a's transpose by rows, kScatter splits c's rows.
// O(a.cols * n + a.nnz * n).
template <typename I>
void spmm_transposed(const CsrMatrixT<I>& a, DenseView b, MutableDenseView c, float alpha = 1.0f,
                     float beta = 0.0f, int threads = 1,
                     TransposedMethod method = TransposedMethod::kAuto);

// Linear forward with a sparse input: c [a.rows x out] = alpha * a * w^T + beta * c, with w the
// layer's weight [out x a.cols] row-major. For each block of outputs as wide as spmm's register
// tile (64 with AVX) the block of w is transposed into a buffer [a.cols x 64] (one contiguous row
// of weights per feature; w is read once in all) and the rows of a gather from it as in spmm;
// threads split the transposition by features and the rows by work. When a has fewer than
// a.cols / 16 entries (a tiny batch) the weights are fetched entry by entry instead of reading
// all of w. An earlier version transposed a and accumulated outputs in L2-sized row panels; on the
// bag-of-words shapes this one was as fast at 0.1% density and 1.6-2.5x faster at 1%.
// O(a.nnz * out + a.cols * out) time, O(a.cols * 64) extra memory.
template <typename I>
void spmm_dense_bt(const CsrMatrixT<I>& a, DenseView w, MutableDenseView c, float alpha = 1.0f,
                   float beta = 0.0f, int threads = 1);
template <typename I>
DenseMatrix spmm_dense_bt(const CsrMatrixT<I>& a, DenseView w, int threads = 1);

// Linear weight gradient with a sparse input: dw [out x a.cols] = alpha * dy^T * a + beta * dw,
// dy [a.rows x out]. Computed as blocks of columns of dw from a^T's rows (gathers of dy rows in
// registers), stored transposed block by block. Threads split the column blocks.
// dw is dense: column f of dw is non-zero only if feature f occurs in the batch, but a batch of
// bag-of-words rows touches most features (4096 rows at 0.1% density of 100k features touch ~98%),
// so a dense result is smaller and faster to apply. It pays to keep it sparse when
// a.rows * density << 1, i.e. few distinct features per batch: then
// spmm_transposed_row_sparse(a, dy) gives dw^T restricted to the occurring features.
// O(a.nnz * out + out * a.cols).
template <typename I>
void dense_t_spmm(DenseView dy, const CsrMatrixT<I>& a, MutableDenseView dw, float alpha = 1.0f,
                  float beta = 0.0f, int threads = 1);
template <typename I>
DenseMatrix dense_t_spmm(DenseView dy, const CsrMatrixT<I>& a, int threads = 1);

class RowSparseGrad;
// a^T * b [a.cols x n] keeping only the rows of features that occur in a (the non-empty columns
// of a), as a RowSparseGrad: the transposed weight gradient of a Linear layer on a sparse input
// when few features occur. Same summation order as spmm_transposed.
template <typename I>
RowSparseGrad spmm_transposed_row_sparse(const CsrMatrixT<I>& a, DenseView b, int threads = 1);

// Gradient of a [num_rows x dim] table that is non-zero only in some rows (Embedding lookups):
// unique row ids, ascending, and their values [nnz_rows x dim] row-major.
class RowSparseGrad {
 public:
  RowSparseGrad() = default;
  // Throws tb::Error if a size is negative.
  RowSparseGrad(std::int64_t num_rows, std::int64_t dim);

  // Adds grads row k to row ids[k] for every k; grads is [ids.size() x dim]. Ids may repeat and
  // come in any order. Each row's sum is built in call order and, within a call, in the order of
  // ids, so the result is bitwise what a dense scatter-add into a zeroed table in that order
  // gives. All ids are checked first: an id outside [0, num_rows) or a shape mismatch throws
  // tb::Error naming the position and value, leaving the gradient unchanged.
  // O(k log k + (nnz_rows + k) * dim) for k = ids.size(); threads split the merged rows.
  void accumulate(std::span<const std::int64_t> ids, DenseView grads, int threads = 1);
  // Builds from rows already unique and ascending (checked: tb::Error otherwise).
  static RowSparseGrad from_rows(std::int64_t num_rows, std::int64_t dim,
                                 std::vector<std::int64_t> row_ids, std::vector<float> values);

  // table[row] += alpha * value for each stored row (the SGD step on an embedding table).
  // table must be [num_rows x dim].
  void add_to(MutableDenseView table, float alpha = 1.0f) const;
  // Dense [num_rows x dim] copy.
  DenseMatrix to_dense() const;
  void clear();

  std::int64_t num_rows() const { return num_rows_; }
  std::int64_t dim() const { return dim_; }
  std::int64_t nnz_rows() const { return static_cast<std::int64_t>(row_ids_.size()); }
  std::span<const std::int64_t> row_ids() const { return row_ids_; }
  std::span<const float> values() const { return values_; }
  // Bytes of the stored ids and values, against the num_rows * dim floats of the dense gradient.
  std::size_t bytes() const;
  std::size_t dense_bytes() const;

 private:
  std::int64_t num_rows_ = 0;
  std::int64_t dim_ = 0;
  std::vector<std::int64_t> row_ids_;
  std::vector<float> values_;
};

}  // namespace tb::ds
