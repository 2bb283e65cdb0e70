// Learning-rate schedules: a factor on every parameter group's base lr, as a function of the step.
#pragma once

#include <cstdint>
#include <string>

namespace tb::optim {

struct ScheduleSpec {
  std::string type = "constant";  // constant | step | cosine | onecycle
  std::int64_t warmup_steps = 0;  // cosine: linear warm-up from 0 over these steps
  // step: factor gamma^(floor(step / step_size))
  std::int64_t step_size = 1000;
  double gamma = 0.1;
  // cosine: decays to min_factor (of the base lr) at the last step
  double min_factor = 0.0;
  // onecycle (torch.optim.lr_scheduler.OneCycleLR, cosine annealing, no momentum cycling): the
  // base lr is the peak; starts at peak/div_factor, rises for pct_start of the run, then falls
  // to peak/(div_factor*final_div_factor).
  double pct_start = 0.3;
  double div_factor = 25.0;
  double final_div_factor = 1e4;
};

// The lr factor at `step` (0-based: the factor used by the first update is at step 0) of a run of
// total_steps updates. Throws tb::Error naming the field for invalid settings.
double lr_factor(const ScheduleSpec& spec, std::int64_t step, std::int64_t total_steps);

// Throws tb::Error ("schedule.gamma must be in (0, 1]", ...) when spec cannot be used.
void validate(const ScheduleSpec& spec);

}  // namespace tb::optim
