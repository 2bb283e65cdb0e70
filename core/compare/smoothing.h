// Curve smoothing as TensorBoard does it: an exponential moving average, debiased so the first
// points are not pulled towards zero. weight 0: the raw curve; 0.99: very smooth.
#pragma once

#include <span>
#include <vector>

namespace tb::compare {

// y smoothed; NaN and infinite values are passed through unchanged and left out of the average.
// weight is clamped to [0, 0.999].
std::vector<double> smooth_ema(std::span<const double> y, double weight);

}  // namespace tb::compare
