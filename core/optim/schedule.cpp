// The lr schedules: a pure function of (spec, step, total_steps), so resuming a run from a
// checkpoint needs nothing saved beyond the step count.
#include "core/optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "core/optim/detail.h"

namespace tb::optim {
namespace {

using detail::require_in;
using detail::show;

// torch's OneCycleLR._annealing_cos: from start (pct 0) to end (pct 1) along half a cosine.
double anneal_cos(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
}

// torch.optim.lr_scheduler.OneCycleLR.get_lr with three_phase=False, anneal_strategy='cos', as a
// factor of max_lr (the base lr): two phases ending at steps pct_start*total - 1 and total - 1.
double onecycle(const ScheduleSpec& spec, double step, double total) {
  const double initial = 1.0 / spec.div_factor;
  const double min = initial / spec.final_div_factor;
  const double end1 = spec.pct_start * total - 1.0;
  const double end2 = total - 1.0;
  // A phase of zero length (torch divides by zero there) is at its end value.
  auto pct = [](double at, double from, double to) {
    return to > from ? (at - from) / (to - from) : 1.0;
  };
  if (step <= end1) return anneal_cos(initial, 1.0, pct(step, 0.0, end1));
  return anneal_cos(1.0, min, pct(step, end1, end2));
}

double cosine(const ScheduleSpec& spec, std::int64_t step, std::int64_t total) {
  if (step < spec.warmup_steps) {
    return static_cast<double>(step + 1) / static_cast<double>(spec.warmup_steps);
  }
  // progress runs from 0 at the first step after warm-up to 1 at the last step of the run.
  const auto span = total - 1 - spec.warmup_steps;
  const double progress =
      span > 0 ? static_cast<double>(step - spec.warmup_steps) / static_cast<double>(span) : 1.0;
  return spec.min_factor +
         (1.0 - spec.min_factor) * (1.0 + std::cos(std::numbers::pi * progress)) / 2.0;
}

}  // namespace

void validate(const ScheduleSpec& spec) {
  const std::string& type = spec.type;
  if (type != "constant" && type != "step" && type != "cosine" && type != "onecycle") {
    throw Error("schedule.type must be one of constant, step, cosine, onecycle (got '" + type +
                "')");
  }
  if (type == "step") {
    if (spec.step_size < 1) {
      throw Error("schedule.step_size must be >= 1 (got " + std::to_string(spec.step_size) + ")");
    }
    if (!(spec.gamma > 0.0 && spec.gamma <= 1.0)) {
      throw Error("schedule.gamma must be in (0, 1] (got " + show(spec.gamma) + ")");
    }
  }
  if (type == "cosine") {
    if (spec.warmup_steps < 0) {
      throw Error("schedule.warmup_steps must be >= 0 (got " + std::to_string(spec.warmup_steps) +
                  ")");
    }
    require_in(spec.min_factor, 0.0, 1.0, true, "schedule.min_factor");
  }
  if (type == "onecycle") {
    require_in(spec.pct_start, 0.0, 1.0, true, "schedule.pct_start");
    if (!(spec.div_factor > 0.0) || std::isinf(spec.div_factor)) {
      throw Error("schedule.div_factor must be > 0 (got " + show(spec.div_factor) + ")");
    }
    if (!(spec.final_div_factor > 0.0) || std::isinf(spec.final_div_factor)) {
      throw Error("schedule.final_div_factor must be > 0 (got " + show(spec.final_div_factor) +
                  ")");
    }
  }
}

double lr_factor(const ScheduleSpec& spec, std::int64_t step, std::int64_t total_steps) {
  validate(spec);
  if (step < 0) throw Error("schedule: step must be >= 0 (got " + std::to_string(step) + ")");
  if (spec.type == "constant") return 1.0;
  if (spec.type == "step") {
    return std::pow(spec.gamma, static_cast<double>(step / spec.step_size));
  }
  if (total_steps < 1) {
    throw Error("schedule." + spec.type + " needs the run's length in steps (got total_steps " +
                std::to_string(total_steps) + ")");
  }
  // Steps past the end (an extra update after the planned run) keep the last step's factor.
  step = std::min(step, total_steps - 1);
  if (spec.type == "cosine") return cosine(spec, step, total_steps);
  return onecycle(spec, static_cast<double>(step), static_cast<double>(total_steps));
}

}  // namespace tb::optim
