#include "core/nn/linear.h"

#include "core/nn/init.h"

#include <cmath>
#include <vector>

#include "core/util/error.h"

namespace tb::nn {

Linear::Linear(Backend& backend, std::int64_t in_features, std::int64_t out_features,
               std::mt19937_64& rng)
    : Layer(backend), in_(in_features), out_(out_features) {
  if (in_ <= 0 || out_ <= 0) throw Error("Linear: feature counts must be positive");
  weight_ = {"weight", backend.empty({out_, in_}), backend.zeros({out_, in_})};
  bias_ = {"bias", backend.empty({out_}), backend.zeros({out_})};
  const float bound = 1.0f / std::sqrt(static_cast<float>(in_));
  init_uniform(backend, weight_.value, bound, rng);
  init_uniform(backend, bias_.value, bound, rng);
}

std::string Linear::describe() const {
  return "Linear(" + std::to_string(in_) + "->" + std::to_string(out_) + ")";
}

Shape Linear::output_shape(const Shape& input) const {
  if (input.rank() < 2 || input.inner() != in_) {
    throw Error(describe() + " cannot take input " + input.str());
  }
  return {input[0], out_};
}

const Tensor& Linear::forward(const Tensor& x, bool /*training*/) {
  const Shape out_shape = output_shape(x.shape());
  input_shape_ = x.shape();
  // Kept for backward as it came: in 16-bit, a view of the previous layer's 16-bit output.
  x2d_ = x.reshape({x.shape()[0], in_});
  Tensor& y = f32_output(y_, out_shape);
  if (products_in_16bit(x2d_, weight_)) {
    // 16-bit x and W straight into the product (Tensor Cores, fp32 accumulation), f32 y.
    backend_.gemm(x2d_, false, weight_.working, true, y);
  } else {
    const Tensor& x32 = widen(x2d_, &Workspace::in);
    backend_.gemm(x32, false, param_f32(weight_, &Workspace::weight), true, y);
  }
  backend_.add_row_bias(y, param_f32(bias_, &Workspace::bias));
  return narrow(y, y16_);
}

const Tensor& Linear::backward(const Tensor& dy) {
  // dW [out, in] = dy^T [out, N] x [N, in]; db = column sums of dy; dx [N, in] = dy [N, out] W.
  // The sums (db) take the f32 dy; gradients of parameters and of the input stay f32.
  backend_.sum_rows(dy, bias_.grad);
  if (products_in_16bit(x2d_, weight_)) {
    // The products take x and W as stored; a Tensor Core product needs dy in the same 16-bit
    // dtype, so dy is narrowed once (into the workspace) for both, as autocast feeds a bf16
    // gradient to its matmuls. fp32 accumulation, f32 results.
    const Tensor& dy16 = narrow_grad(dy);
    backend_.gemm(dy16, true, x2d_, false, weight_.grad);
    if (!needs_input_grad_) return none_;
    backend_.ensure(dx2d_, {input_shape_[0], in_});
    backend_.gemm(dy16, false, weight_.working, false, dx2d_);
    dx_ = dx2d_.reshape(input_shape_);
    return dx_;
  }
  const Tensor& x32 = widen(x2d_, &Workspace::in);
  backend_.gemm(dy, true, x32, false, weight_.grad);
  if (!needs_input_grad_) return none_;
  backend_.ensure(dx2d_, {input_shape_[0], in_});
  backend_.gemm(dy, false, param_f32(weight_, &Workspace::weight), false, dx2d_);
  dx_ = dx2d_.reshape(input_shape_);
  return dx_;
}

}  // namespace tb::nn
