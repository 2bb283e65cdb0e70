// ForwardingBackend: a Backend that hands every op to another one, for test doubles that change
// or count a few ops (a CPU that claims 16-bit products, a backend counting optimizer calls)
// and leave the rest to the real backend.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "core/tensor/backend.h"

namespace tb::testing {

class ForwardingBackend : public tensor::Backend {
 public:
  using Tensor = tensor::Tensor;
  using Shape = tensor::Shape;
  using DType = tensor::DType;

  explicit ForwardingBackend(std::unique_ptr<tensor::Backend> inner = tensor::make_cpu_backend(1))
      : inner_(std::move(inner)) {}

  tensor::Backend& inner() { return *inner_; }

  std::string name() const override { return inner_->name(); }
  tensor::Device device() const override { return inner_->device(); }
  std::optional<tensor::DeviceProperties> device_properties() const override {
    return inner_->device_properties();
  }
  void set_threads(int threads) override { inner_->set_threads(threads); }
  int threads() const override { return inner_->threads(); }
  void synchronize() override { inner_->synchronize(); }
  std::int64_t reserved_bytes() const override { return inner_->reserved_bytes(); }
  std::int64_t peak_reserved_bytes() const override { return inner_->peak_reserved_bytes(); }
  void reset_peak_memory() override { inner_->reset_peak_memory(); }
  bool takes_16bit_matmul_operands() const override {
    return inner_->takes_16bit_matmul_operands();
  }

  Tensor empty(Shape shape, DType dtype) override { return inner_->empty(std::move(shape), dtype); }
  void upload(Tensor& dst, const void* host, std::size_t bytes) override {
    inner_->upload(dst, host, bytes);
  }
  std::shared_ptr<tensor::HostMemory> host_memory() override { return inner_->host_memory(); }
  void upload_async(Tensor& dst, const void* host, std::size_t bytes) override {
    inner_->upload_async(dst, host, bytes);
  }
  void finish_uploads() override { inner_->finish_uploads(); }
  void download(const Tensor& src, void* host, std::size_t bytes) override {
    inner_->download(src, host, bytes);
  }
  void fill(Tensor& t, float value) override { inner_->fill(t, value); }
  void copy(const Tensor& src, Tensor& dst) override { inner_->copy(src, dst); }
  void copy_range(const Tensor& src, std::int64_t src_offset, Tensor& dst, std::int64_t dst_offset,
                  std::int64_t count) override {
    inner_->copy_range(src, src_offset, dst, dst_offset, count);
  }
  void convert(const Tensor& src, Tensor& dst) override { inner_->convert(src, dst); }
  void round_to(Tensor& t, DType storage) override { inner_->round_to(t, storage); }

  void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, float alpha,
            float beta) override {
    inner_->gemm(a, trans_a, b, trans_b, c, alpha, beta);
  }
  void add_row_bias(Tensor& y, const Tensor& bias) override { inner_->add_row_bias(y, bias); }
  void sum_rows(const Tensor& dy, Tensor& db) override { inner_->sum_rows(dy, db); }

  void relu_forward(const Tensor& x, Tensor& y) override { inner_->relu_forward(x, y); }
  void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override {
    inner_->relu_backward(y, dy, dx);
  }
  void dropout_forward(const Tensor& x, Tensor& y, float p, std::uint64_t seed) override {
    inner_->dropout_forward(x, y, p, seed);
  }
  void dropout_backward(const Tensor& dy, Tensor& dx, float p, std::uint64_t seed) override {
    inner_->dropout_backward(dy, dx, p, seed);
  }
  void mul(const Tensor& a, const Tensor& b, Tensor& out) override { inner_->mul(a, b, out); }

  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                      const tensor::Conv2dGeometry& g) override {
    inner_->conv2d_forward(x, w, b, y, g);
  }
  void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx, Tensor& dw,
                       Tensor& db, const tensor::Conv2dGeometry& g) override {
    inner_->conv2d_backward(x, w, dy, dx, dw, db, g);
  }
  void maxpool2d_forward(const Tensor& x, Tensor& y, Tensor& argmax,
                         const tensor::Pool2dGeometry& g) override {
    inner_->maxpool2d_forward(x, y, argmax, g);
  }
  void maxpool2d_backward(const Tensor& dy, const Tensor& argmax, Tensor& dx,
                          const tensor::Pool2dGeometry& g) override {
    inner_->maxpool2d_backward(dy, argmax, dx, g);
  }
  void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y,
                               Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean,
                               Tensor& running_var, float momentum, float eps) override {
    inner_->batchnorm_forward_train(x, gamma, beta, y, save_mean, save_invstd, running_mean,
                                    running_var, momentum, eps);
  }
  void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const Tensor& running_mean, const Tensor& running_var, float eps,
                              Tensor& y) override {
    inner_->batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, eps, y);
  }
  void batchnorm_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                          const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                          Tensor& dgamma, Tensor& dbeta) override {
    inner_->batchnorm_backward(x, dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
  }

  float softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                      Tensor& probs) override {
    return inner_->softmax_cross_entropy_forward(logits, labels, probs);
  }
  void softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels,
                                      Tensor& dlogits) override {
    inner_->softmax_cross_entropy_backward(probs, labels, dlogits);
  }
  std::int64_t count_correct(const Tensor& logits, const Tensor& labels) override {
    return inner_->count_correct(logits, labels);
  }

  void sgd_step(Tensor& param, const Tensor& grad, Tensor& velocity,
                const tensor::SgdStep& step) override {
    inner_->sgd_step(param, grad, velocity, step);
  }
  void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                 Tensor& max_exp_avg_sq, const tensor::AdamStep& step) override {
    inner_->adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step);
  }
  void rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg, Tensor& grad_avg,
                    Tensor& momentum_buf, const tensor::RmspropStep& step) override {
    inner_->rmsprop_step(param, grad, square_avg, grad_avg, momentum_buf, step);
  }
  void lion_step(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                 const tensor::LionStep& step) override {
    inner_->lion_step(param, grad, exp_avg, step);
  }
  void lerp_(Tensor& slow, Tensor& fast, const tensor::LerpStep& step) override {
    inner_->lerp_(slow, fast, step);
  }
  bool unscale_and_check_finite(Tensor& grad, float inv_scale) override {
    return inner_->unscale_and_check_finite(grad, inv_scale);
  }
  void sgd_step_multi(std::span<const tensor::SgdTensors> tensors,
                      const tensor::SgdStep& step) override {
    inner_->sgd_step_multi(tensors, step);
  }
  void adam_step_multi(std::span<const tensor::AdamTensors> tensors,
                       const tensor::AdamStep& step) override {
    inner_->adam_step_multi(tensors, step);
  }
  void rmsprop_step_multi(std::span<const tensor::RmspropTensors> tensors,
                          const tensor::RmspropStep& step) override {
    inner_->rmsprop_step_multi(tensors, step);
  }
  void lion_step_multi(std::span<const tensor::LionTensors> tensors,
                       const tensor::LionStep& step) override {
    inner_->lion_step_multi(tensors, step);
  }
  bool unscale_and_check_finite_multi(std::span<Tensor* const> grads, float inv_scale) override {
    return inner_->unscale_and_check_finite_multi(grads, inv_scale);
  }
  void scale(Tensor& t, float factor) override { inner_->scale(t, factor); }
  double sum_squares(const Tensor& t) override { return inner_->sum_squares(t); }

 private:
  std::unique_ptr<tensor::Backend> inner_;
};

// A CPU backend that says it is on a GPU: the runner then takes the device path (batches
// uploaded one ahead, the device's memory figures, GPU tensors for the communicator), whose
// bookkeeping is tested here while the CUDA kernels themselves are tested on a GPU.
class GpuStandIn : public ForwardingBackend {
 public:
  std::string name() const override { return "cuda (stand-in)"; }
  tensor::Device device() const override { return tensor::Device::cuda; }
};

}  // namespace tb::testing
