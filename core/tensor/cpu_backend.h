// The CPU backend: Eigen for matrix products, OpenMP for the loops around them.
//
// Internal to core/tensor; everything else reaches it through make_cpu_backend().
#pragma once

#include <vector>

#include "core/tensor/backend.h"

namespace tb::tensor {

// Loops shorter than this run on one thread: forking costs more than it saves.
inline constexpr std::int64_t kParallelGrain = 1 << 15;

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads);

  std::string name() const override { return "cpu"; }
  Device device() const override { return Device::cpu; }
  void set_threads(int threads) override;
  int threads() const override { return threads_; }

  Tensor empty(Shape shape, DType dtype) override;
  void upload(Tensor& dst, const void* host, std::size_t bytes) override;
  void download(const Tensor& src, void* host, std::size_t bytes) override;
  void fill(Tensor& t, float value) override;
  void copy(const Tensor& src, Tensor& dst) override;
  void copy_range(const Tensor& src, std::int64_t src_offset, Tensor& dst, std::int64_t dst_offset,
                  std::int64_t count) override;

  void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, float alpha,
            float beta) override;
  void add_row_bias(Tensor& y, const Tensor& bias) override;
  void sum_rows(const Tensor& dy, Tensor& db) override;

  void relu_forward(const Tensor& x, Tensor& y) override;
  void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override;
  void dropout_forward(const Tensor& x, Tensor& y, float p, std::uint64_t seed) override;
  void dropout_backward(const Tensor& dy, Tensor& dx, float p, std::uint64_t seed) override;
  void mul(const Tensor& a, const Tensor& b, Tensor& out) override;

  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                      const Conv2dGeometry& g) override;
  void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx, Tensor& dw,
                       Tensor& db, const Conv2dGeometry& g) override;
  void maxpool2d_forward(const Tensor& x, Tensor& y, Tensor& argmax,
                         const Pool2dGeometry& g) override;
  void maxpool2d_backward(const Tensor& dy, const Tensor& argmax, Tensor& dx,
                          const Pool2dGeometry& g) override;

  void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y,
                               Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean,
                               Tensor& running_var, float momentum, float eps) override;
  void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const Tensor& running_mean, const Tensor& running_var, float eps,
                              Tensor& y) override;
  void batchnorm_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                          const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                          Tensor& dgamma, Tensor& dbeta) override;

  float softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                      Tensor& probs) override;
  void softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels,
                                      Tensor& dlogits) override;
  std::int64_t count_correct(const Tensor& logits, const Tensor& labels) override;

  void sgd_step(Tensor& param, const Tensor& grad, Tensor& velocity, const SgdStep& step) override;
  void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                 Tensor& max_exp_avg_sq, const AdamStep& step) override;
  void rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg, Tensor& grad_avg,
                    Tensor& momentum_buf, const RmspropStep& step) override;
  void lion_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, const LionStep& step) override;
  void lerp_(Tensor& slow, Tensor& fast, const LerpStep& step) override;
  void scale(Tensor& t, float factor) override;
  void convert(const Tensor& src, Tensor& dst) override;
  bool unscale_and_check_finite(Tensor& grad, float inv_scale) override;
  void round_to(Tensor& t, DType storage) override;
  double sum_squares(const Tensor& t) override;

 private:
  // Per-thread workspaces of the convolution, kept between calls so a steady-state step does
  // not allocate (and page-fault) its im2col buffers again.
  struct ConvScratch {
    std::vector<float> cols, dcols;
    RowMatrix dw;
    Eigen::VectorXf db;
  };
  int threads_ = 1;
  std::vector<ConvScratch> scratch_;
};

// Counter-based uniform draw in [0, 1) for element i of stream `seed` (splitmix64), shared by
// every backend so dropout masks agree across devices.
inline float uniform_from_counter(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
}

}  // namespace tb::tensor
