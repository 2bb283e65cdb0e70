// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_ (L2, foreach-free).
#include <cmath>

#include "core/optim/detail.h"

namespace tb::optim {

double clip_grad_norm(tensor::Backend& backend, const std::vector<nn::Parameter*>& params,
                      double max_norm) {
  double sum = 0.0;
  for (const auto* p : params) sum += backend.sum_squares(p->grad);
  const double total = std::sqrt(sum);
  if (!(max_norm > 0.0)) return total;
  // torch: clip_coef = max_norm / (total + 1e-6), clamped to 1, so gradients are scaled exactly
  // when the coefficient is below 1. A non-finite norm is returned unscaled-for: the caller (the
  // loss scaler, the runner's divergence check) decides what a NaN step means.
  const double coef = max_norm / (total + 1e-6);
  if (std::isfinite(total) && coef < 1.0) {
    for (auto* p : params) backend.scale(p->grad, static_cast<float>(coef));
  }
  return total;
}

}  // namespace tb::optim
