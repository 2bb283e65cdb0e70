// Kernels for CudaBackend's elementwise ops, row reductions, loss and metrics: raw device
// pointers, sizes, one stream. Matrices are row-major, rows x cols. Every launcher only enqueues
// work; the ones that produce a value for the host leave it in device memory for the caller to
// read back.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace tb::gpu::kernels {

// y[r, j] += bias[j]; y: [rows, cols], bias: [cols].
void add_row_bias(float* y, const float* bias, std::int64_t rows, std::int64_t cols,
                  cudaStream_t stream);

// Floats of workspace sum_rows needs for a rows x cols input (it splits tall inputs into row
// chunks summed by separate blocks, then adds the chunks' partial sums).
std::int64_t sum_rows_workspace(std::int64_t rows, std::int64_t cols);
// db[j] = sum_r dy[r, j]; dy: [rows, cols], db: [cols], workspace: sum_rows_workspace() floats
// (may be null when that is 0).
void sum_rows(const float* dy, float* db, std::int64_t rows, std::int64_t cols, float* workspace,
              cudaStream_t stream);

// y[i] = max(x[i], 0) (NaN gives 0, as on the CPU); x, y: [n].
void relu_forward(const float* x, float* y, std::int64_t n, cudaStream_t stream);
// dx[i] = y[i] > 0 ? dy[i] : 0; y, dy, dx: [n].
void relu_backward(const float* y, const float* dy, float* dx, std::int64_t n, cudaStream_t stream);
// out[i] = in[i] * (uniform_from_counter(seed, i) >= p ? keep_scale : 0); in, out: [n]. Forward
// and backward of dropout are both this map.
void dropout(const float* in, float* out, std::int64_t n, float p, float keep_scale,
             std::uint64_t seed, cudaStream_t stream);
// out[i] = a[i] * b[i]; a, b, out: [n].
void mul(const float* a, const float* b, float* out, std::int64_t n, cudaStream_t stream);
// x[i] *= factor; x: [n].
void scale(float* x, std::int64_t n, float factor, cudaStream_t stream);

// What softmax_cross_entropy_forward leaves in device memory for the host.
struct SoftmaxLossResult {
  double loss_sum;  // sum over the rows of -log p[label]
  // (row << 32) | (uint32) label of the first row whose label is outside [0, classes), or
  // kNoBadLabel.
  std::uint64_t bad_label;
};
inline constexpr std::uint64_t kNoBadLabel = ~std::uint64_t{0};

// probs[r, :] = softmax(logits[r, :]) and result->loss_sum = sum_r -log probs[r, labels[r]],
// each row's term in double as the CPU computes it. logits, probs: [rows, classes]; labels:
// [rows]; row_loss: [rows] doubles of workspace; result: one struct of device memory.
void softmax_cross_entropy_forward(const float* logits, const std::int32_t* labels, float* probs,
                                   std::int64_t rows, std::int64_t classes, double* row_loss,
                                   SoftmaxLossResult* result, cudaStream_t stream);
// dlogits = (probs - onehot(labels)) / rows; probs, dlogits: [rows, classes], labels: [rows]
// (a label outside [0, classes) subtracts nothing rather than writing out of bounds).
void softmax_cross_entropy_backward(const float* probs, const std::int32_t* labels, float* dlogits,
                                    std::int64_t rows, std::int64_t classes, cudaStream_t stream);
// *correct = number of rows whose arg-max (the first one among ties) equals the label.
// logits: [rows, classes], labels: [rows], correct: one counter of device memory.
void count_correct(const float* logits, const std::int32_t* labels, std::int64_t rows,
                   std::int64_t classes, unsigned long long* correct, cudaStream_t stream);

// Doubles of workspace sum_squares needs for n elements.
std::int64_t sum_squares_workspace(std::int64_t n);
// workspace[0] = sum_i x[i]^2 accumulated in double; x: [n], workspace: sum_squares_workspace(n)
// doubles (the block partials follow the result).
void sum_squares(const float* x, std::int64_t n, double* workspace, cudaStream_t stream);

}  // namespace tb::gpu::kernels
