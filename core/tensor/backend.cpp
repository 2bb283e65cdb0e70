#include "core/tensor/backend.h"

#include <string>

#include "core/util/error.h"

namespace tb::tensor {

void require(bool ok, const char* op, const std::string& what) {
  if (!ok) throw Error(std::string(op) + ": " + what);
}

void require_same_numel(const char* op, const Tensor& a, const Tensor& b) {
  require(a.numel() == b.numel(), op,
          "element counts differ: " + a.shape().str() + " vs " + b.shape().str());
}

void require_like_param(const char* op, const char* what, const Tensor& param, const Tensor& t) {
  if (!t.defined() || param.numel() != t.numel()) {
    throw Error(std::string(op) + ": " + what + " has " +
                (t.defined() ? t.shape().str() : std::string("no tensor")) + ", expected " +
                std::to_string(param.numel()) + " elements like the parameter " +
                param.shape().str());
  }
}

void require_param_and_grad(const char* op, std::size_t index, const Tensor* param,
                            const Tensor* grad) {
  if (param == nullptr || grad == nullptr) {
    throw Error(std::string(op) + ": tensor " + std::to_string(index) + " of the list has no " +
                (param == nullptr ? "parameter" : "gradient"));
  }
}

void require_copy_range(const Tensor& src, std::int64_t src_offset, const Tensor& dst,
                        std::int64_t dst_offset, std::int64_t count) {
  require(src.dtype() == dst.dtype(), "copy_range", "dtypes differ");
  const auto inside = [count](std::int64_t offset, const Tensor& t) {
    return offset >= 0 && count >= 0 && offset <= t.numel() && count <= t.numel() - offset;
  };
  require(inside(src_offset, src) && inside(dst_offset, dst), "copy_range",
          std::to_string(count) + " elements from " + std::to_string(src_offset) + " of " +
              src.shape().str() + " to " + std::to_string(dst_offset) + " of " + dst.shape().str() +
              " leave a tensor");
}

MatrixDims matrix_dims(const Tensor& t) {
  const std::int64_t rows = t.shape().rank() ? t.shape()[0] : 1;
  return {rows, rows ? t.numel() / rows : 0};
}

void check_conv2d(const char* op, const Tensor& x, const Tensor& w, const Conv2dGeometry& g) {
  if (g.kernel <= 0 || g.stride <= 0 || g.padding < 0) {
    throw Error(std::string(op) + ": kernel and stride must be positive and padding not negative");
  }
  const Shape expect_w{g.out_channels, g.in_channels, g.kernel, g.kernel};
  if (x.shape().rank() != 4 || x.shape()[1] != g.in_channels || x.shape()[2] != g.in_h ||
      x.shape()[3] != g.in_w || w.shape() != expect_w) {
    throw Error(std::string(op) + ": input " + x.shape().str() + " or weight " + w.shape().str() +
                " does not match the layer (" + std::to_string(g.in_channels) + "x" +
                std::to_string(g.in_h) + "x" + std::to_string(g.in_w) + " -> " +
                std::to_string(g.out_channels) + " channels, kernel " + std::to_string(g.kernel) +
                ")");
  }
}

BatchNormLayout batchnorm_layout(const Tensor& x, const Tensor& gamma) {
  const auto& s = x.shape();
  if (s.rank() < 2 || s[1] != gamma.numel()) {
    throw Error("batchnorm: input " + s.str() + " does not have " + std::to_string(gamma.numel()) +
                " channels");
  }
  std::int64_t spatial = 1;
  for (std::size_t i = 2; i < s.rank(); ++i) spatial *= s[i];
  return {s[0], s[1], spatial};
}

Tensor Backend::zeros(Shape shape, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  fill(t, 0.0f);
  return t;
}

void Backend::ensure(Tensor& t, const Shape& shape, DType dtype) {
  if (!t.defined() || t.shape() != shape || t.dtype() != dtype) t = empty(shape, dtype);
}

// The multi-tensor updates' defaults: the single op, tensor by tensor. A null buffer stands for
// an undefined tensor, which the single op accepts where the step's options do not use it.
void Backend::sgd_step_multi(std::span<const SgdTensors> tensors, const SgdStep& step) {
  Tensor none;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const SgdTensors& t = tensors[i];
    require_param_and_grad("sgd_step", i, t.param, t.grad);
    sgd_step(*t.param, *t.grad, t.velocity ? *t.velocity : none, step);
  }
}

void Backend::adam_step_multi(std::span<const AdamTensors> tensors, const AdamStep& step) {
  Tensor none;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const AdamTensors& t = tensors[i];
    require_param_and_grad("adam_step", i, t.param, t.grad);
    adam_step(*t.param, *t.grad, t.exp_avg ? *t.exp_avg : none, t.exp_avg_sq ? *t.exp_avg_sq : none,
              t.max_exp_avg_sq ? *t.max_exp_avg_sq : none, step);
  }
}

void Backend::rmsprop_step_multi(std::span<const RmspropTensors> tensors, const RmspropStep& step) {
  Tensor none;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const RmspropTensors& t = tensors[i];
    require_param_and_grad("rmsprop_step", i, t.param, t.grad);
    rmsprop_step(*t.param, *t.grad, t.square_avg ? *t.square_avg : none,
                 t.grad_avg ? *t.grad_avg : none, t.momentum_buf ? *t.momentum_buf : none, step);
  }
}

void Backend::lion_step_multi(std::span<const LionTensors> tensors, const LionStep& step) {
  Tensor none;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const LionTensors& t = tensors[i];
    require_param_and_grad("lion_step", i, t.param, t.grad);
    lion_step(*t.param, *t.grad, t.exp_avg ? *t.exp_avg : none, step);
  }
}

bool Backend::unscale_and_check_finite_multi(std::span<Tensor* const> grads, float inv_scale) {
  bool found = false;
  for (std::size_t i = 0; i < grads.size(); ++i) {
    require(grads[i] != nullptr, "unscale_and_check_finite",
            "tensor " + std::to_string(i) + " of the list has no gradient");
    // Every gradient is unscaled, also after a non-finite one (no short-circuit).
    found = unscale_and_check_finite(*grads[i], inv_scale) || found;
  }
  return found;
}

}  // namespace tb::tensor
