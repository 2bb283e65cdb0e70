// Backend: every numeric operation the engine performs, behind one interface.
//
// nn/ and optim/ express layers and updates only through these ops, so a backend for another
// device (the CUDA one in gpu/) plugs in by implementing this class. Shapes are stated on each op;
// all tensors are contiguous and row-major, images are NCHW.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/tensor/host_memory.h"
#include "core/tensor/tensor.h"

namespace tb::tensor {

// Geometry of a square-kernel 2-D convolution over an NCHW input.
struct Conv2dGeometry {
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  std::int64_t kernel = 3;
  std::int64_t stride = 1;
  std::int64_t padding = 0;
  std::int64_t in_h = 0;
  std::int64_t in_w = 0;

  // 0 when the kernel does not fit (integer division alone would round -1/2 up to 0, giving 1).
  std::int64_t out_h() const { return out_size(in_h); }
  std::int64_t out_w() const { return out_size(in_w); }
  std::int64_t patch() const { return in_channels * kernel * kernel; }

 private:
  std::int64_t out_size(std::int64_t in) const {
    return in + 2 * padding < kernel ? 0 : (in + 2 * padding - kernel) / stride + 1;
  }
};

// Geometry of a max pooling window (no padding; windows that would cross the edge are dropped).
struct Pool2dGeometry {
  std::int64_t kernel = 2;
  std::int64_t stride = 2;
  std::int64_t channels = 0;
  std::int64_t in_h = 0;
  std::int64_t in_w = 0;

  std::int64_t out_h() const { return in_h < kernel ? 0 : (in_h - kernel) / stride + 1; }
  std::int64_t out_w() const { return in_w < kernel ? 0 : (in_w - kernel) / stride + 1; }
};

// One SGD update as PyTorch defines it (torch.optim.SGD):
//   g = grad + weight_decay * p
//   v = first_step ? g : momentum * v + (1 - dampening) * g
//   d = nesterov ? g + momentum * v : v      (d = g when momentum == 0)
//   p = p - lr * d
struct SgdStep {
  float lr = 0.01f;
  float momentum = 0.0f;
  float dampening = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;
  bool first_step = true;
};

// One Adam or AdamW update as PyTorch defines them (torch.optim.Adam / AdamW), t the 1-based step:
//   adam:  g = grad + weight_decay * p                (L2 in the gradient)
//   adamw: g = grad; p = p - lr * weight_decay * p   (decoupled, before the Adam step)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   amsgrad: vmax = max(vmax, v), and v_hat = vmax; else v_hat = v
//   p = p - lr * (m / bias_correction1) / (sqrt(v_hat / bias_correction2) + eps)
// The caller passes bias_correction1 = 1 - beta1^t and bias_correction2 = 1 - beta2^t (computed
// once per step in double, not per element). The decoupled decay and the Adam step are subtracted
// from p together, so p is rounded once per step, not twice.
struct AdamStep {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool decoupled = false;  // adamw
  bool amsgrad = false;
  float bias_correction1 = 1.0f;
  float bias_correction2 = 1.0f;
};

// One RMSProp update as PyTorch defines it (torch.optim.RMSprop):
//   g = grad + weight_decay * p
//   v = alpha * v + (1 - alpha) * g^2
//   centered: ga = alpha * ga + (1 - alpha) * g; avg = sqrt(max(v - ga^2, 0)) + eps
//   else:     avg = sqrt(v) + eps                 (eps after the square root)
//   momentum > 0: buf = momentum * buf + g / avg; p = p - lr * buf
//   else:         p = p - lr * g / avg
// (The clamp at 0 only matters where rounding makes v - ga^2 negative; PyTorch gives NaN there.)
struct RmspropStep {
  float lr = 1e-2f;
  float alpha = 0.99f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  float momentum = 0.0f;
  bool centered = false;
};

// One Lion update (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"):
//   c = beta1 * m + (1 - beta1) * grad
//   p = p - lr * (weight_decay * p + sign(c))     (decoupled decay; sign(0) = 0)
//   m = beta2 * m + (1 - beta2) * grad
struct LionStep {
  float lr = 1e-4f;
  float beta1 = 0.9f;
  float beta2 = 0.99f;
  float weight_decay = 0.0f;
};

// Lookahead's slow-weight update (Zhang et al. 2019), every k inner steps:
//   slow = slow + alpha * (fast - slow); fast = slow
struct LerpStep {
  float alpha = 0.5f;
};

// One tensor's operands in a multi-tensor update (Backend::sgd_step_multi and the like): the
// arguments of the single-tensor op, by pointer. A buffer the step's options do not use may be
// null (or an undefined tensor), as it may be undefined for the single op.
struct SgdTensors {
  Tensor* param = nullptr;
  const Tensor* grad = nullptr;
  Tensor* velocity = nullptr;  // momentum only
};
struct AdamTensors {
  Tensor* param = nullptr;
  const Tensor* grad = nullptr;
  Tensor* exp_avg = nullptr;
  Tensor* exp_avg_sq = nullptr;
  Tensor* max_exp_avg_sq = nullptr;  // amsgrad only
};
struct RmspropTensors {
  Tensor* param = nullptr;
  const Tensor* grad = nullptr;
  Tensor* square_avg = nullptr;
  Tensor* grad_avg = nullptr;      // centered only
  Tensor* momentum_buf = nullptr;  // momentum only
};
struct LionTensors {
  Tensor* param = nullptr;
  const Tensor* grad = nullptr;
  Tensor* exp_avg = nullptr;
};

// For backends: throws tb::Error "`op`: `what`" unless ok, so every device words a rejected
// operand the same way; and the element-count check of the elementwise ops.
void require(bool ok, const char* op, const std::string& what);
void require_same_numel(const char* op, const Tensor& a, const Tensor& b);
// copy_range's checks: same dtype, and both ranges inside their tensors.
void require_copy_range(const Tensor& src, std::int64_t src_offset, const Tensor& dst,
                        std::int64_t dst_offset, std::int64_t count);
// An optimizer's state or gradient tensor `what` must exist and match the parameter's size.
void require_like_param(const char* op, const char* what, const Tensor& param, const Tensor& t);
// Tensor `index` of a multi-tensor update's list must name its parameter and its gradient.
void require_param_and_grad(const char* op, std::size_t index, const Tensor* param,
                            const Tensor* grad);

// A tensor seen as a matrix, as every backend's gemm and row-wise ops see it (Tensor::matrix()
// on the CPU): shape[0] rows of everything else (one row for a scalar).
struct MatrixDims {
  std::int64_t rows = 0, cols = 0;
};
MatrixDims matrix_dims(const Tensor& t);

// Throws tb::Error "`op`: input [..] or weight [..] does not match the layer (...)" unless x is
// [N, in_channels, in_h, in_w] and w [out_channels, in_channels, kernel, kernel], and when the
// kernel or stride is not positive or the padding negative. Every backend's convolution checks
// its operands with it, so the messages are the same on every device.
void check_conv2d(const char* op, const Tensor& x, const Tensor& w, const Conv2dGeometry& g);

// Batch normalisation's view of x: [N, C, ...] with every trailing dimension pooled into
// `spatial` (1 for a [N, C] input).
struct BatchNormLayout {
  std::int64_t batch = 0, channels = 0, spatial = 0;
};
// Throws tb::Error "batchnorm: input [..] does not have C channels" when x's second dimension
// is not gamma's length.
BatchNormLayout batchnorm_layout(const Tensor& x, const Tensor& gamma);

// The accelerator a backend computes on, as a session stores it (device.N.* params), whether or
// not its activity is traced.
struct DeviceProperties {
  int index = 0;
  std::string name;
  int sm_count = 0;
  int compute_major = 0, compute_minor = 0;
  std::int64_t memory_bytes = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  virtual Device device() const = 0;
  // The GPU this backend computes on; none on the CPU (the session's host params describe it).
  virtual std::optional<DeviceProperties> device_properties() const { return std::nullopt; }
  // Worker threads the backend's ops may use (the CPU backend's GEMM and loops).
  virtual void set_threads(int threads) = 0;
  virtual int threads() const = 0;
  // Waits until every op issued so far has finished (no-op on the CPU).
  virtual void synchronize() {}
  // Device memory the backend's allocator holds, cached blocks included (the CUDA backend's
  // "reserved"); 0 where memory is not cached (the CPU).
  virtual std::int64_t reserved_bytes() const { return 0; }
  // The most reserved_bytes() has been since the backend was made or reset_peak_memory().
  virtual std::int64_t peak_reserved_bytes() const { return 0; }
  virtual void reset_peak_memory() {}
  // Whether the matrix products take 16-bit operands as they are stored: gemm with a and b both
  // f16 or both bf16 (c f32), and conv2d_forward / conv2d_backward with x and w both f16 or both
  // bf16 (b, y, dy, dw, db, dx f32; backward rounds dy to x's dtype for its two products, as
  // autocast's 16-bit output gradient would be, and sums db from dy as given). The products of
  // 16-bit values are exact and accumulate in fp32 (Tensor Cores on a GPU), so the result is the
  // f32 op on the widened values up to the order of summation. Mixed-precision layers then skip
  // widening their activations and working weights into f32. False where the arithmetic is fp32
  // only (the CPU, whose ops throw on 16-bit operands): layers widen first, as before.
  virtual bool takes_16bit_matmul_operands() const { return false; }

  // ---- memory ----
  virtual Tensor empty(Shape shape, DType dtype = DType::f32) = 0;
  Tensor zeros(Shape shape, DType dtype = DType::f32);
  // Reallocates t only when its shape or dtype differs, so per-step buffers are allocated once.
  void ensure(Tensor& t, const Shape& shape, DType dtype = DType::f32);
  virtual void upload(Tensor& dst, const void* host, std::size_t bytes) = 0;
  // Host memory this backend uploads from fastest (the CUDA backend's is pinned, so a copy from
  // it is asynchronous); null where plain memory is as good (the CPU). The data pipeline decodes
  // batches into it.
  virtual std::shared_ptr<HostMemory> host_memory() { return nullptr; }
  // Starts copying `bytes` from host into dst and may return before the copy is done: on CUDA
  // it runs on a copy stream of its own, after the ops already issued (which may still read dst)
  // and beside the ones issued next, so a batch's upload overlaps the step before it. `host`
  // must stay untouched and dst unused until finish_uploads(). The CPU copies at once.
  virtual void upload_async(Tensor& dst, const void* host, std::size_t bytes) {
    upload(dst, host, bytes);
  }
  // Waits until every upload_async issued so far is done: their host memory may be reused and
  // the ops issued from now on see the uploaded data.
  virtual void finish_uploads() {}
  virtual void download(const Tensor& src, void* host, std::size_t bytes) = 0;
  virtual void fill(Tensor& t, float value) = 0;
  virtual void copy(const Tensor& src, Tensor& dst) = 0;
  // dst[dst_offset, +count) = src[src_offset, +count), offsets and count in elements of their
  // (same) dtype: how gradients are packed into, and unpacked from, one flat buffer per
  // all-reduce (dist::GradientBuckets). The ranges must lie inside the tensors and not overlap.
  virtual void copy_range(const Tensor& src, std::int64_t src_offset, Tensor& dst,
                          std::int64_t dst_offset, std::int64_t count) = 0;
  // dst = src converted between f32 and f16/bf16 (either way; round to nearest even when
  // narrowing), or a plain copy when the dtypes match. Same number of elements.
  virtual void convert(const Tensor& src, Tensor& dst) = 0;
  // Rounds an f32 tensor in place to the nearest value `storage` (f16 or bf16) can hold, keeping
  // it in f32: mixed precision on a backend whose arithmetic is fp32. No-op for f32.
  virtual void round_to(Tensor& t, DType storage) = 0;

  // ---- dense algebra ----
  // c = alpha * op(a) * op(b) + beta * c, each tensor seen as a shape[0] x inner() matrix.
  virtual void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                    float alpha = 1.0f, float beta = 0.0f) = 0;
  // y[r, :] += bias for every row r; y: [rows, n], bias: [n].
  virtual void add_row_bias(Tensor& y, const Tensor& bias) = 0;
  // db[j] = sum_r dy[r, j]; dy: [rows, n], db: [n].
  virtual void sum_rows(const Tensor& dy, Tensor& db) = 0;

  // ---- elementwise ----
  virtual void relu_forward(const Tensor& x, Tensor& y) = 0;
  // dx = dy where y > 0, else 0 (y is the forward output).
  virtual void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) = 0;
  // Inverted dropout: y[i] = x[i] * mask(i), mask(i) = 1/(1-p) when a counter-based hash of
  // (seed, i) draws >= p, else 0 (uniform_from_counter in cpu_backend.h), so every backend draws
  // the same mask. The mask is never stored: backward draws it again from the same (seed, i), so
  // dropout holds no memory from forward to backward.
  virtual void dropout_forward(const Tensor& x, Tensor& y, float p, std::uint64_t seed) = 0;
  // dx[i] = dy[i] * mask(i), the mask dropout_forward drew with the same p and seed.
  virtual void dropout_backward(const Tensor& dy, Tensor& dx, float p, std::uint64_t seed) = 0;
  // out = a * b elementwise.
  virtual void mul(const Tensor& a, const Tensor& b, Tensor& out) = 0;

  // ---- convolution and pooling (NCHW) ----
  // x: [N, C, H, W], w: [OC, C, K, K], b: [OC], y: [N, OC, OH, OW].
  virtual void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                              const Conv2dGeometry& g) = 0;
  // dw and db are overwritten; dx is skipped when null (first layer).
  virtual void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx,
                               Tensor& dw, Tensor& db, const Conv2dGeometry& g) = 0;
  // x: [N, C, H, W], y: [N, C, OH, OW], argmax (i32, same shape as y): index of the max in the
  // input plane of its channel.
  virtual void maxpool2d_forward(const Tensor& x, Tensor& y, Tensor& argmax,
                                 const Pool2dGeometry& g) = 0;
  virtual void maxpool2d_backward(const Tensor& dy, const Tensor& argmax, Tensor& dx,
                                  const Pool2dGeometry& g) = 0;

  // ---- batch normalisation over N, H, W for each channel of [N, C, H, W] ----
  // Training: normalises with the batch statistics, saves mean and 1/sqrt(var + eps) ([C] each)
  // for backward, and updates the running statistics (unbiased variance) with momentum.
  virtual void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                       Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                       Tensor& running_mean, Tensor& running_var, float momentum,
                                       float eps) = 0;
  virtual void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                      const Tensor& running_mean, const Tensor& running_var,
                                      float eps, Tensor& y) = 0;
  virtual void batchnorm_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                  const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                                  Tensor& dgamma, Tensor& dbeta) = 0;

  // ---- loss and metrics ----
  // logits: [N, K], labels: i32 [N] in [0, K). Writes softmax probabilities to probs and returns
  // the mean cross-entropy. Throws tb::Error on a label outside [0, K).
  virtual float softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                              Tensor& probs) = 0;
  // dlogits = (probs - onehot(labels)) / N.
  virtual void softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels,
                                              Tensor& dlogits) = 0;
  // Rows whose arg-max equals the label.
  virtual std::int64_t count_correct(const Tensor& logits, const Tensor& labels) = 0;

  // ---- optimizer updates (one fused pass over parameter, gradient and state) ----
  virtual void sgd_step(Tensor& param, const Tensor& grad, Tensor& velocity,
                        const SgdStep& step) = 0;
  // Buffers an option does not use (max_exp_avg_sq without amsgrad, grad_avg when not centered,
  // momentum_buf without momentum) may be undefined tensors.
  virtual void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                         Tensor& max_exp_avg_sq, const AdamStep& step) = 0;
  virtual void rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg, Tensor& grad_avg,
                            Tensor& momentum_buf, const RmspropStep& step) = 0;
  virtual void lion_step(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                         const LionStep& step) = 0;
  // Lookahead: slow += alpha * (fast - slow); fast = slow, both in one pass.
  virtual void lerp_(Tensor& slow, Tensor& fast, const LerpStep& step) = 0;
  // fp16 loss scaling (GradScaler's unscale_): grad *= inv_scale in place; returns whether any
  // unscaled value is inf or NaN (checked after scaling, so a finite gradient that unscaling
  // overflows counts too). One pass; on a device it is one kernel and one flag read back.
  virtual bool unscale_and_check_finite(Tensor& grad, float inv_scale) = 0;

  // ---- multi-tensor updates (one parameter group: many tensors, the same step settings) ----
  // Each applies its single-tensor op above, with the same step, to every tensor of the list,
  // with the same result, element for element. Why: a model has hundreds of small parameter
  // tensors, and on a device one launch a tensor costs more than the update itself, so a device
  // backend covers the whole group in one launch (a few for a very long list). The defaults
  // (backend.cpp) call the single op tensor by tensor, in order, which is all the CPU needs; an
  // operand is refused with the single op's message, the default after updating the tensors
  // before it, a device backend before updating any.
  virtual void sgd_step_multi(std::span<const SgdTensors> tensors, const SgdStep& step);
  virtual void adam_step_multi(std::span<const AdamTensors> tensors, const AdamStep& step);
  virtual void rmsprop_step_multi(std::span<const RmspropTensors> tensors, const RmspropStep& step);
  virtual void lion_step_multi(std::span<const LionTensors> tensors, const LionStep& step);
  // unscale_and_check_finite over every gradient of the list (all are unscaled, whatever is
  // found); returns whether any is inf or NaN. Why: on a device, the single op reads a flag back
  // (a wait for the device) per tensor; this is one kernel, one flag and one read back a step.
  virtual bool unscale_and_check_finite_multi(std::span<Tensor* const> grads, float inv_scale);

  // t = t * factor (gradient clipping).
  virtual void scale(Tensor& t, float factor) = 0;
  // Sum of squares of every element (gradient norms, tests).
  virtual double sum_squares(const Tensor& t) = 0;
};

// The CPU backend on Eigen, using `threads` threads for GEMM and parallel loops.
std::unique_ptr<Backend> make_cpu_backend(int threads = 1);

}  // namespace tb::tensor
