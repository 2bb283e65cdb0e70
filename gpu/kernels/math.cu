#include <climits>
#include <cmath>
#include <cstdint>

#include "gpu/kernels/launch.h"
#include "gpu/kernels/math.h"

namespace tb::gpu::kernels {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kWarp = 32;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

// ---- reductions across the threads that share a row: a warp, or a whole block ----

struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct SumOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};

// An arg-max candidate. The combine keeps the greater value and, among equal values, the lower
// index, so the result is the first maximum whatever order the threads combine in (Eigen's
// maxCoeff, which the CPU uses, scans left to right and keeps the first). NaN never enters a
// candidate (see count_correct_rows_kernel), which keeps the combine commutative.
struct ArgMax {
  float value;
  int index;
};
struct ArgMaxOp {
  __device__ ArgMax operator()(ArgMax a, ArgMax b) const {
    return b.value > a.value || (b.value == a.value && b.index < a.index) ? b : a;
  }
};

__device__ float shuffle_xor(float v, int mask) {
  return __shfl_xor_sync(kFullMask, v, mask);
}
__device__ double shuffle_xor(double v, int mask) {
  return __shfl_xor_sync(kFullMask, v, mask);
}
__device__ ArgMax shuffle_xor(ArgMax v, int mask) {
  return {__shfl_xor_sync(kFullMask, v.value, mask), __shfl_xor_sync(kFullMask, v.index, mask)};
}

// A butterfly: every lane ends with the same total (each step combines the same two values on
// both sides, and the ops are commutative), so no broadcast is needed afterwards.
template <class T, class Op>
__device__ T warp_reduce(T v, Op op) {
  for (int mask = kWarp / 2; mask > 0; mask >>= 1) v = op(v, shuffle_xor(v, mask));
  return v;
}

// Reduces over a group of kThreads consecutive threads: one warp, or (kThreads == blockDim.x)
// the whole block, through shared[kThreads / 32]. Every thread of the group gets the result.
// A whole-block group must be entered by every thread of the block.
template <int kThreads, class T, class Op>
__device__ T group_reduce(T v, Op op, T* shared) {
  v = warp_reduce(v, op);
  if constexpr (kThreads > kWarp) {
    __syncthreads();  // readers of the previous reduction are done with `shared`
    if (threadIdx.x % kWarp == 0) shared[threadIdx.x / kWarp] = v;
    __syncthreads();
    v = shared[0];
    for (int w = 1; w < kThreads / kWarp; ++w) v = op(v, shared[w]);
  }
  return v;
}

// Row-wise kernels give a row to a warp while rows are short (most lanes busy, no block-wide
// barriers), and a whole block beyond that, so that a few long rows still spread over the SMs.
constexpr std::int64_t kWarpRowLimit = 1024;

template <int kThreads>
unsigned row_blocks(std::int64_t rows) {
  return static_cast<unsigned>(ceil_div(rows, kBlock / kThreads));
}

// The row this thread works on, and its lane within the row's group.
template <int kThreads>
__device__ std::int64_t group_row() {
  return static_cast<std::int64_t>(blockIdx.x) * (kBlock / kThreads) + threadIdx.x / kThreads;
}

// A grid-stride walk over the elements of a rows x cols matrix that also yields each element's
// row and column, updated by additions: one 64-bit division per thread instead of one per element.
struct MatrixWalk {
  std::int64_t i, row, col;
  std::int64_t stride, step_rows, step_cols;
  std::int64_t cols;

  __device__ explicit MatrixWalk(std::int64_t cols_) : cols(cols_) {
    i = global_index();
    row = i / cols;
    col = i % cols;
    stride = grid_stride();
    step_rows = stride / cols;
    step_cols = stride % cols;
  }
  __device__ void next() {
    i += stride;
    row += step_rows;
    col += step_cols;
    if (col >= cols) {
      col -= cols;
      ++row;
    }
  }
};

// ---- elementwise ----

__global__ void add_row_bias_kernel(float* y /* [rows, cols] */, const float* bias /* [cols] */,
                                    std::int64_t n, std::int64_t cols) {
  for (MatrixWalk w(cols); w.i < n; w.next()) y[w.i] += bias[w.col];
}

__global__ void relu_forward_kernel(const float* x /* [n] */, float* y /* [n] */, std::int64_t n) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void relu_backward_kernel(const float* y /* [n] */, const float* dy /* [n] */,
                                     float* dx /* [n] */, std::int64_t n) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
  }
}

// tensor::uniform_from_counter (cpu_backend.h), bit for bit: integer arithmetic, then a 24-bit
// integer scaled by 2^-24, both exact in float. Any change there must be made here too.
__device__ __forceinline__ float uniform_from_counter(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

__global__ void dropout_kernel(const float* in /* [n] */, float* out /* [n] */, std::int64_t n,
                               float p, float keep_scale, std::uint64_t seed) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    const bool keep = uniform_from_counter(seed, static_cast<std::uint64_t>(i)) >= p;
    out[i] = in[i] * (keep ? keep_scale : 0.0f);  // a multiply even when dropped: NaN stays NaN
  }
}

__global__ void mul_kernel(const float* a /* [n] */, const float* b /* [n] */, float* out /* [n] */,
                           std::int64_t n) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) out[i] = a[i] * b[i];
}

__global__ void scale_kernel(float* x /* [n] */, std::int64_t n, float factor) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) x[i] *= factor;
}

// ---- sum over rows ----

// A block sums kSumCols columns over one chunk of rows: the x threads read consecutive columns of
// a row (coalesced), the y threads interleave the chunk's rows.
constexpr int kSumCols = 32;
constexpr int kSumRowLanes = kBlock / kSumCols;
// Enough blocks to fill an H100 several times over; each chunk keeps at least 8 rows a thread,
// so the second pass over the chunks' partial sums stays small.
constexpr std::int64_t kSumTargetBlocks = 1024;
constexpr std::int64_t kSumMinChunkRows = 8 * kSumRowLanes;

struct RowChunks {
  std::int64_t count, rows_each;
};

RowChunks row_chunks(std::int64_t rows, std::int64_t cols) {
  const std::int64_t col_blocks = ceil_div(cols, kSumCols);
  // At most kSumTargetBlocks chunks: well within gridDim.y's limit.
  const std::int64_t count =
      std::min(ceil_div(kSumTargetBlocks, col_blocks), ceil_div(rows, kSumMinChunkRows));
  const std::int64_t rows_each = ceil_div(rows, count);
  return {ceil_div(rows, rows_each), rows_each};
}

__global__ void sum_rows_chunk_kernel(const float* dy /* [rows, cols] */,
                                      float* out /* [chunks, cols] */, std::int64_t rows,
                                      std::int64_t cols, std::int64_t rows_each) {
  __shared__ float partial[kSumRowLanes][kSumCols];
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * kSumCols + threadIdx.x;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * rows_each;
  const std::int64_t end = begin + rows_each < rows ? begin + rows_each : rows;
  float sum = 0.0f;
  if (col < cols) {
    for (std::int64_t r = begin + threadIdx.y; r < end; r += kSumRowLanes)
      sum += dy[r * cols + col];
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
    float total = 0.0f;
    for (int k = 0; k < kSumRowLanes; ++k) total += partial[k][threadIdx.x];
    out[blockIdx.y * cols + col] = total;
  }
}

__global__ void sum_chunks_kernel(const float* partial /* [chunks, cols] */, float* db /* [cols] */,
                                  std::int64_t chunks, std::int64_t cols) {
  for (std::int64_t col = global_index(); col < cols; col += grid_stride()) {
    float total = 0.0f;
    for (std::int64_t c = 0; c < chunks; ++c) total += partial[c * cols + col];
    db[col] = total;
  }
}

// ---- softmax cross-entropy ----

template <int kThreads>
__global__ void softmax_xent_rows_kernel(const float* logits /* [rows, classes] */,
                                         const std::int32_t* labels /* [rows] */,
                                         float* probs /* [rows, classes] */,
                                         double* row_loss /* [rows] */,
                                         std::uint64_t* bad_label /* [1] */, std::int64_t rows,
                                         std::int64_t classes) {
  __shared__ float shared[kBlock / kWarp];
  const std::int64_t row = group_row<kThreads>();
  const int lane = static_cast<int>(threadIdx.x % kThreads);
  if (row >= rows) return;  // whole groups leave together
  const std::int32_t label = labels[row];
  if (label < 0 || label >= classes) {
    // The smallest key is the first bad row: the one the CPU backend reports.
    if (lane == 0) {
      const std::uint64_t key =
          static_cast<std::uint64_t>(row) << 32 | static_cast<std::uint32_t>(label);
      atomicMin(reinterpret_cast<unsigned long long*>(bad_label),
                static_cast<unsigned long long>(key));
    }
    return;
  }
  const float* l = logits + row * classes;
  float* p = probs + row * classes;
  float max = -INFINITY;
  for (std::int64_t j = lane; j < classes; j += kThreads) max = fmaxf(max, l[j]);
  max = group_reduce<kThreads>(max, MaxOp{}, shared);
  float sum = 0.0f;
  for (std::int64_t j = lane; j < classes; j += kThreads) {
    const float e = expf(l[j] - max);
    p[j] = e;
    sum += e;
  }
  sum = group_reduce<kThreads>(sum, SumOp{}, shared);
  // Each thread rescales the elements it wrote itself: no barrier needed.
  for (std::int64_t j = lane; j < classes; j += kThreads) p[j] = p[j] / sum;
  // -log p[y] = -((l[y] - max) - log(sum)): exact even where p[y] underflows.
  if (lane == 0) {
    row_loss[row] = -(static_cast<double>(l[label] - max) - log(static_cast<double>(sum)));
  }
}

// total[0] = sum of values[0, n), in one block, in a fixed order (the result does not vary from
// run to run).
__global__ void sum_doubles_kernel(const double* values /* [n] */, std::int64_t n,
                                   double* total /* [1] */) {
  __shared__ double shared[kBlock / kWarp];
  double sum = 0.0;
  for (std::int64_t i = threadIdx.x; i < n; i += kBlock) sum += values[i];
  sum = group_reduce<kBlock>(sum, SumOp{}, shared);
  if (threadIdx.x == 0) *total = sum;
}

__global__ void softmax_xent_backward_kernel(const float* probs /* [rows, classes] */,
                                             const std::int32_t* labels /* [rows] */,
                                             float* dlogits /* [rows, classes] */, std::int64_t n,
                                             std::int64_t classes, float inv_rows) {
  // Rounded as the CPU rounds it, p * inv then - inv (nvcc would otherwise fuse the two).
  for (MatrixWalk w(classes); w.i < n; w.next()) {
    float d = __fmul_rn(probs[w.i], inv_rows);
    if (w.col == labels[w.row]) d = __fsub_rn(d, inv_rows);
    dlogits[w.i] = d;
  }
}

template <int kThreads>
__global__ void count_correct_rows_kernel(const float* logits /* [rows, classes] */,
                                          const std::int32_t* labels /* [rows] */,
                                          unsigned long long* correct /* [1] */, std::int64_t rows,
                                          std::int64_t classes) {
  __shared__ ArgMax shared[kBlock / kWarp];
  const std::int64_t row = group_row<kThreads>();
  const int lane = static_cast<int>(threadIdx.x % kThreads);
  if (row >= rows) return;
  const float* l = logits + row * classes;
  // The sentinel loses to any real candidate (an index below INT_MAX wins the tie at -inf).
  ArgMax best{-INFINITY, INT_MAX};
  for (std::int64_t j = lane; j < classes; j += kThreads) {
    best = ArgMaxOp{}(best, ArgMax{l[j], static_cast<int>(j)});  // a NaN never wins
  }
  best = group_reduce<kThreads>(best, ArgMaxOp{}, shared);
  if (lane == 0) {
    // Eigen's scan starts from element 0 and replaces it only by a greater value, so a NaN
    // there is never replaced; NaNs elsewhere are never taken.
    const int index = isnan(l[0]) || best.index == INT_MAX ? 0 : best.index;
    if (index == labels[row]) atomicAdd(correct, 1ull);
  }
}

// ---- sum of squares ----

__global__ void sum_squares_kernel(const float* x /* [n] */, std::int64_t n,
                                   double* partials /* [gridDim.x] */) {
  __shared__ double shared[kBlock / kWarp];
  double sum = 0.0;
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    const double v = x[i];
    sum += v * v;  // exact: a float squared fits a double's mantissa
  }
  sum = group_reduce<kBlock>(sum, SumOp{}, shared);
  if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

}  // namespace

void add_row_bias(float* y, const float* bias, std::int64_t rows, std::int64_t cols,
                  cudaStream_t stream) {
  const std::int64_t n = rows * cols;
  if (n <= 0) return;
  add_row_bias_kernel<<<grid_for(n), kBlock, 0, stream>>>(y, bias, n, cols);
  check_launch(__func__);
}

std::int64_t sum_rows_workspace(std::int64_t rows, std::int64_t cols) {
  if (rows <= 0 || cols <= 0) return 0;
  const RowChunks chunks = row_chunks(rows, cols);
  return chunks.count > 1 ? chunks.count * cols : 0;
}

void sum_rows(const float* dy, float* db, std::int64_t rows, std::int64_t cols, float* workspace,
              cudaStream_t stream) {
  if (cols <= 0) return;
  if (rows <= 0) {
    cudaMemsetAsync(db, 0, static_cast<std::size_t>(cols) * sizeof(float), stream);
    check_launch(__func__);
    return;
  }
  const RowChunks chunks = row_chunks(rows, cols);
  const dim3 grid(static_cast<unsigned>(ceil_div(cols, kSumCols)),
                  static_cast<unsigned>(chunks.count));
  const dim3 block(kSumCols, kSumRowLanes);
  float* out = chunks.count > 1 ? workspace : db;
  sum_rows_chunk_kernel<<<grid, block, 0, stream>>>(dy, out, rows, cols, chunks.rows_each);
  check_launch(__func__);
  if (chunks.count > 1) {
    sum_chunks_kernel<<<grid_for(cols), kBlock, 0, stream>>>(workspace, db, chunks.count, cols);
    check_launch(__func__);
  }
}

void relu_forward(const float* x, float* y, std::int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  relu_forward_kernel<<<grid_for(n), kBlock, 0, stream>>>(x, y, n);
  check_launch(__func__);
}

void relu_backward(const float* y, const float* dy, float* dx, std::int64_t n,
                   cudaStream_t stream) {
  if (n <= 0) return;
  relu_backward_kernel<<<grid_for(n), kBlock, 0, stream>>>(y, dy, dx, n);
  check_launch(__func__);
}

void dropout(const float* in, float* out, std::int64_t n, float p, float keep_scale,
             std::uint64_t seed, cudaStream_t stream) {
  if (n <= 0) return;
  dropout_kernel<<<grid_for(n), kBlock, 0, stream>>>(in, out, n, p, keep_scale, seed);
  check_launch(__func__);
}

void mul(const float* a, const float* b, float* out, std::int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  mul_kernel<<<grid_for(n), kBlock, 0, stream>>>(a, b, out, n);
  check_launch(__func__);
}

void scale(float* x, std::int64_t n, float factor, cudaStream_t stream) {
  if (n <= 0) return;
  scale_kernel<<<grid_for(n), kBlock, 0, stream>>>(x, n, factor);
  check_launch(__func__);
}

void softmax_cross_entropy_forward(const float* logits, const std::int32_t* labels, float* probs,
                                   std::int64_t rows, std::int64_t classes, double* row_loss,
                                   SoftmaxLossResult* result, cudaStream_t stream) {
  cudaMemsetAsync(result, 0, sizeof(SoftmaxLossResult), stream);
  check_launch(__func__);
  cudaMemsetAsync(&result->bad_label, 0xFF, sizeof(result->bad_label), stream);  // kNoBadLabel
  check_launch(__func__);
  if (rows <= 0) return;
  if (classes <= kWarpRowLimit) {
    softmax_xent_rows_kernel<kWarp><<<row_blocks<kWarp>(rows), kBlock, 0, stream>>>(
        logits, labels, probs, row_loss, &result->bad_label, rows, classes);
    check_launch(__func__);
  } else {
    softmax_xent_rows_kernel<kBlock><<<row_blocks<kBlock>(rows), kBlock, 0, stream>>>(
        logits, labels, probs, row_loss, &result->bad_label, rows, classes);
    check_launch(__func__);
  }
  sum_doubles_kernel<<<1, kBlock, 0, stream>>>(row_loss, rows, &result->loss_sum);
  check_launch(__func__);
}

void softmax_cross_entropy_backward(const float* probs, const std::int32_t* labels, float* dlogits,
                                    std::int64_t rows, std::int64_t classes, cudaStream_t stream) {
  const std::int64_t n = rows * classes;
  if (n <= 0) return;
  const float inv_rows = 1.0f / static_cast<float>(rows);
  softmax_xent_backward_kernel<<<grid_for(n), kBlock, 0, stream>>>(probs, labels, dlogits, n,
                                                                   classes, inv_rows);
  check_launch(__func__);
}

void count_correct(const float* logits, const std::int32_t* labels, std::int64_t rows,
                   std::int64_t classes, unsigned long long* correct, cudaStream_t stream) {
  cudaMemsetAsync(correct, 0, sizeof(*correct), stream);
  check_launch(__func__);
  if (rows <= 0 || classes <= 0) return;
  if (classes <= kWarpRowLimit) {
    count_correct_rows_kernel<kWarp>
        <<<row_blocks<kWarp>(rows), kBlock, 0, stream>>>(logits, labels, correct, rows, classes);
    check_launch(__func__);
  } else {
    count_correct_rows_kernel<kBlock>
        <<<row_blocks<kBlock>(rows), kBlock, 0, stream>>>(logits, labels, correct, rows, classes);
    check_launch(__func__);
  }
}

std::int64_t sum_squares_workspace(std::int64_t n) {
  return 1 + grid_for(n);
}

void sum_squares(const float* x, std::int64_t n, double* workspace, cudaStream_t stream) {
  if (n <= 0) {
    cudaMemsetAsync(workspace, 0, sizeof(double), stream);
    check_launch(__func__);
    return;
  }
  const unsigned blocks = grid_for(n);
  sum_squares_kernel<<<blocks, kBlock, 0, stream>>>(x, n, workspace + 1);
  check_launch(__func__);
  sum_doubles_kernel<<<1, kBlock, 0, stream>>>(workspace + 1, blocks, workspace);
  check_launch(__func__);
}

}  // namespace tb::gpu::kernels
