// Dynamic loss scaling for fp16 training, with the semantics of PyTorch's torch.amp.GradScaler.
//
// The loss is multiplied by scale() before backward so that small gradients stay above fp16's
// underflow; the gradients are then unscaled (multiplied by 1 / scale) and checked, by the
// backend's unscale_and_check_finite, where the gradients live. A step whose
// gradients hold an inf or NaN is skipped and the scale backs off; after growth_interval clean
// steps in a row the scale grows. One update() call per optimizer step:
//
//   found_inf:  scale *= backoff_factor; clean-step counter = 0; the step is skipped
//   otherwise:  counter += 1; if counter == growth_interval: scale *= growth_factor (kept only if
//               still finite in float), counter = 0
//
// The scale is a float, as in PyTorch, and the products are rounded to float the same way, so a
// run reproduces PyTorch's sequence of scales.
#pragma once

#include <cstdint>
#include <vector>

namespace tb::amp {

// Settings; the defaults are GradScaler's. validate() names the project field of a bad value.
struct LossScalerOptions {
  double init_scale = 65536.0;  // 2^16
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  std::int64_t growth_interval = 2000;

  // Throws tb::Error, e.g. "amp.growth_interval must be >= 1 (got 0)".
  void validate() const;
};

// Something the run should record: a skipped step, or the scale changing (after a skip it always
// does, by backoff; on a clean step only when it grows). The runner stores these as the metrics
// `loss_scale` (scale) and `skipped_steps` (skipped_total).
struct ScaleEvent {
  std::int64_t step = 0;           // 1-based: the n-th update() call
  double scale = 0.0;              // the scale after this step
  bool skipped = false;            // the optimizer step was skipped (inf/NaN gradients)
  std::int64_t skipped_total = 0;  // skipped steps so far, this one included
};

class LossScaler {
 public:
  explicit LossScaler(const LossScalerOptions& options = {});  // validates

  float scale() const { return scale_; }
  // 1 / scale, rounded to float once (PyTorch: scale.double().reciprocal().float()).
  float inv_scale() const { return static_cast<float>(1.0 / static_cast<double>(scale_)); }

  // Records one optimizer step's outcome and adjusts the scale; returns whether the optimizer
  // step should be applied (false when found_inf).
  bool update(bool found_inf);

  const LossScalerOptions& options() const { return options_; }
  std::int64_t steps() const { return steps_; }
  std::int64_t skipped_steps() const { return skipped_; }
  // Clean steps since the last growth or overflow (GradScaler's growth tracker).
  std::int64_t growth_tracker() const { return growth_tracker_; }
  // Skipped steps in a row up to now: a long streak means the loss itself is inf/NaN, which no
  // scale fixes, and the caller may want to stop the run.
  std::int64_t consecutive_skips() const { return consecutive_skips_; }

  // Every event since construction or the last take_events(), oldest first.
  const std::vector<ScaleEvent>& events() const { return events_; }
  std::vector<ScaleEvent> take_events();

 private:
  LossScalerOptions options_;
  float scale_;
  std::int64_t steps_ = 0;
  std::int64_t skipped_ = 0;
  std::int64_t growth_tracker_ = 0;
  std::int64_t consecutive_skips_ = 0;
  std::vector<ScaleEvent> events_;
};

}  // namespace tb::amp
