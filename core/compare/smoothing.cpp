#include "core/compare/smoothing.h"

#include <algorithm>
#include <cmath>

namespace tb::compare {

std::vector<double> smooth_ema(std::span<const double> y, double weight) {
  // NaN compares false both ways: it clamps to 0 (no smoothing) rather than poisoning the curve.
  weight = std::isnan(weight) ? 0.0 : std::clamp(weight, 0.0, 0.999);
  std::vector<double> out(y.begin(), y.end());
  if (weight == 0.0) return out;

  // A constant curve is returned as it is: the debiased average is mathematically the same
  // constant, but its rounding would draw a flat line as faint noise.
  const auto first = std::find_if(y.begin(), y.end(), [](double v) { return std::isfinite(v); });
  const bool constant =
      std::all_of(y.begin(), y.end(), [&](double v) { return !std::isfinite(v) || v == *first; });
  if (constant) return out;

  // The average starts at 0 and is divided by 1 - weight^k after k finite values: the share of
  // the weights that real values hold so far (as TensorBoard does), so early points are not
  // pulled towards 0.
  double average = 0.0;
  double unweighted = 1.0;  // weight^k
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (!std::isfinite(y[i])) continue;  // passed through, left out of the average
    average = average * weight + (1.0 - weight) * y[i];
    unweighted *= weight;
    out[i] = average / (1.0 - unweighted);
  }
  return out;
}

}  // namespace tb::compare
