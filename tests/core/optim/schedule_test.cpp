// lr schedules against values computed by hand from their definitions (torch's StepLR and
// OneCycleLR, cosine with linear warm-up), and their settings checks.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>

#include "core/optim/schedule.h"
#include "core/util/error.h"

namespace tb::optim {
namespace {

TEST(Schedule, ConstantIsOne) {
  ScheduleSpec s;
  for (std::int64_t step : {0, 1, 99, 1000}) EXPECT_EQ(lr_factor(s, step, 100), 1.0);
}

TEST(Schedule, StepMultipliesByGammaEveryStepSize) {
  ScheduleSpec s{.type = "step", .step_size = 10, .gamma = 0.5};
  EXPECT_EQ(lr_factor(s, 0, 100), 1.0);
  EXPECT_EQ(lr_factor(s, 9, 100), 1.0);
  EXPECT_EQ(lr_factor(s, 10, 100), 0.5);
  EXPECT_EQ(lr_factor(s, 19, 100), 0.5);
  EXPECT_EQ(lr_factor(s, 25, 100), 0.25);
  EXPECT_EQ(lr_factor(s, 99, 100), std::pow(0.5, 9));
}

TEST(Schedule, CosineWarmsUpLinearlyThenDecaysToMinAtTheLastStep) {
  // 15 steps, 4 of warm-up: the cosine spans steps 4..14 (10 intervals).
  ScheduleSpec s{.type = "cosine", .warmup_steps = 4, .min_factor = 0.1};
  EXPECT_DOUBLE_EQ(lr_factor(s, 0, 15), 0.25);
  EXPECT_DOUBLE_EQ(lr_factor(s, 1, 15), 0.5);
  EXPECT_DOUBLE_EQ(lr_factor(s, 3, 15), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor(s, 4, 15), 1.0);
  // progress 0.5: 0.1 + 0.9 * (1 + cos(pi/2)) / 2 = 0.55.
  EXPECT_DOUBLE_EQ(lr_factor(s, 9, 15), 0.55);
  // progress 0.2: 0.1 + 0.9 * (1 + cos(0.2 pi)) / 2 = 0.1 + 0.45 * 1.80901699 = 0.914057647.
  EXPECT_NEAR(lr_factor(s, 6, 15), 0.914057647, 1e-9);
  EXPECT_DOUBLE_EQ(lr_factor(s, 14, 15), 0.1);
  EXPECT_DOUBLE_EQ(lr_factor(s, 40, 15), 0.1) << "past the end: the last factor";
  // Without warm-up and min, it starts at 1 and ends at 0, symmetric around the middle.
  ScheduleSpec plain{.type = "cosine"};
  EXPECT_DOUBLE_EQ(lr_factor(plain, 0, 11), 1.0);
  EXPECT_NEAR(lr_factor(plain, 5, 11), 0.5, 1e-15);
  EXPECT_NEAR(lr_factor(plain, 10, 11), 0.0, 1e-15);
  for (std::int64_t i = 1; i < 10; ++i) {
    EXPECT_LT(lr_factor(plain, i, 11), lr_factor(plain, i - 1, 11)) << i;
  }
}

TEST(Schedule, OneCycleMatchesTorchOneCycleLR) {
  // torch.optim.lr_scheduler.OneCycleLR(max_lr=1, total_steps=100, pct_start=0.25,
  // anneal_strategy='cos', div_factor=25, final_div_factor=1e4): initial 0.04, min 4e-6;
  // phase 1 ends at step 0.25 * 100 - 1 = 24, phase 2 at 99.
  ScheduleSpec s{.type = "onecycle", .pct_start = 0.25};
  EXPECT_NEAR(lr_factor(s, 0, 100), 0.04, 1e-15);
  // step 12: pct 0.5 of phase 1: 1 + (0.04 - 1) / 2 * (cos(pi/2) + 1) = 0.52.
  EXPECT_NEAR(lr_factor(s, 12, 100), 0.52, 1e-15);
  EXPECT_NEAR(lr_factor(s, 24, 100), 1.0, 1e-15);
  // step 49: pct 25/75 = 1/3 of phase 2: 4e-6 + (1 - 4e-6) / 2 * (cos(pi/3) + 1) = 0.750001.
  EXPECT_NEAR(lr_factor(s, 49, 100), 0.750001, 1e-12);
  EXPECT_NEAR(lr_factor(s, 99, 100), 4e-6, 1e-15);
  // torch's default pct_start 0.3: phase 1 ends at 29 (0.3 * 100 - 1).
  ScheduleSpec d{.type = "onecycle"};
  EXPECT_NEAR(lr_factor(d, 29, 100), 1.0, 1e-12);
  EXPECT_LT(lr_factor(d, 28, 100), 1.0);
  EXPECT_LT(lr_factor(d, 30, 100), 1.0);
}

TEST(Schedule, DegenerateLengthsStayFinite) {
  ScheduleSpec one{.type = "onecycle"};
  EXPECT_TRUE(std::isfinite(lr_factor(one, 0, 1)));
  EXPECT_TRUE(std::isfinite(lr_factor(one, 0, 2)));
  ScheduleSpec cos{.type = "cosine", .warmup_steps = 10};
  EXPECT_DOUBLE_EQ(lr_factor(cos, 4, 5), 0.5) << "a run shorter than its warm-up only warms up";
  EXPECT_DOUBLE_EQ(lr_factor(ScheduleSpec{.type = "cosine"}, 0, 1), 0.0);
}

TEST(Schedule, BadSettingsNameTheField) {
  auto expect_rejected = [](const ScheduleSpec& s, const std::string& prefix) {
    try {
      validate(s);
      ADD_FAILURE() << "accepted a schedule that should be refused at " << prefix;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << e.what();
    }
    EXPECT_THROW(lr_factor(s, 0, 10), Error);
  };
  expect_rejected({.type = "linear"}, "schedule.type must be one of");
  expect_rejected({.type = "step", .step_size = 0}, "schedule.step_size must be >= 1 (got 0)");
  expect_rejected({.type = "step", .gamma = 0.0}, "schedule.gamma must be in (0, 1]");
  expect_rejected({.type = "step", .gamma = 1.5}, "schedule.gamma must be in (0, 1] (got 1.5)");
  expect_rejected({.type = "cosine", .warmup_steps = -1}, "schedule.warmup_steps must be >= 0");
  expect_rejected({.type = "cosine", .min_factor = 2.0}, "schedule.min_factor must be in [0, 1]");
  expect_rejected({.type = "onecycle", .pct_start = 1.5}, "schedule.pct_start");
  expect_rejected({.type = "onecycle", .div_factor = 0.0}, "schedule.div_factor must be > 0");
  expect_rejected({.type = "onecycle", .final_div_factor = -1.0}, "schedule.final_div_factor");
  EXPECT_THROW(lr_factor({.type = "cosine"}, 0, 0), Error) << "cosine needs the run's length";
  EXPECT_THROW(lr_factor({}, -1, 10), Error);
  EXPECT_NO_THROW(validate({}));
}

}  // namespace
}  // namespace tb::optim
