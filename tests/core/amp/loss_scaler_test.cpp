// Dynamic loss scaling: GradScaler's growth / backoff schedule, the events a run records, the
// validation of its settings, and the host unscale-and-check.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/amp/loss_scaler.h"
#include "core/tensor/backend.h"
#include "core/util/error.h"
#include "tests/core/tensor/test_util.h"

namespace tb::amp {
namespace {

// The backend's unscale_and_check_finite on host values: grad is unscaled in place.
bool unscale_and_check(std::vector<float>& grad, float inv_scale) {
  auto backend = tensor::make_cpu_backend(1);
  tensor::Tensor t = test_util::from_vec(*backend, {static_cast<std::int64_t>(grad.size())}, grad);
  const bool found_inf = backend->unscale_and_check_finite(t, inv_scale);
  grad = test_util::to_vec(t);
  return found_inf;
}

// n clean steps; each must be applied.
void clean_steps(LossScaler& scaler, int n) {
  for (int i = 0; i < n; ++i) ASSERT_TRUE(scaler.update(false)) << "clean step " << i;
}

TEST(LossScaler, DefaultsAreGradScalers) {
  const LossScaler scaler;
  EXPECT_EQ(scaler.scale(), 65536.0f);
  EXPECT_EQ(scaler.inv_scale(), 1.0f / 65536.0f);
  EXPECT_EQ(scaler.options().growth_factor, 2.0);
  EXPECT_EQ(scaler.options().backoff_factor, 0.5);
  EXPECT_EQ(scaler.options().growth_interval, 2000);
  EXPECT_EQ(scaler.steps(), 0);
  EXPECT_TRUE(scaler.events().empty());
}

TEST(LossScaler, GrowsExactlyAtTheInterval) {
  LossScaler scaler;
  clean_steps(scaler, 1999);
  EXPECT_EQ(scaler.scale(), 65536.0f) << "grew before the 2000th clean step";
  EXPECT_EQ(scaler.growth_tracker(), 1999);
  EXPECT_TRUE(scaler.events().empty());

  EXPECT_TRUE(scaler.update(false));  // step 2000
  EXPECT_EQ(scaler.scale(), 131072.0f);
  EXPECT_EQ(scaler.growth_tracker(), 0);
  ASSERT_EQ(scaler.events().size(), 1u);
  EXPECT_EQ(scaler.events()[0].step, 2000);
  EXPECT_EQ(scaler.events()[0].scale, 131072.0);
  EXPECT_FALSE(scaler.events()[0].skipped);
  EXPECT_EQ(scaler.events()[0].skipped_total, 0);

  // The counter restarted: the next growth is 2000 steps later, at 4000, not before.
  clean_steps(scaler, 1999);
  EXPECT_EQ(scaler.scale(), 131072.0f);
  scaler.update(false);
  EXPECT_EQ(scaler.scale(), 262144.0f);
  ASSERT_EQ(scaler.events().size(), 2u);
  EXPECT_EQ(scaler.events()[1].step, 4000);
  EXPECT_EQ(scaler.steps(), 4000);
  EXPECT_EQ(scaler.skipped_steps(), 0);
}

TEST(LossScaler, InfSkipsBacksOffAndResetsTheCounter) {
  LossScaler scaler;
  clean_steps(scaler, 1500);
  EXPECT_FALSE(scaler.update(true)) << "a step with inf gradients must be skipped";  // step 1501
  EXPECT_EQ(scaler.scale(), 32768.0f);
  EXPECT_EQ(scaler.growth_tracker(), 0);
  EXPECT_EQ(scaler.skipped_steps(), 1);
  ASSERT_EQ(scaler.events().size(), 1u);
  const ScaleEvent skip = scaler.events()[0];
  EXPECT_EQ(skip.step, 1501);
  EXPECT_EQ(skip.scale, 32768.0);
  EXPECT_TRUE(skip.skipped);
  EXPECT_EQ(skip.skipped_total, 1);

  // Without the reset, growth would come 499 steps later; it comes 2000 clean steps later.
  clean_steps(scaler, 1999);
  EXPECT_EQ(scaler.scale(), 32768.0f);
  EXPECT_TRUE(scaler.update(false));  // step 3501
  EXPECT_EQ(scaler.scale(), 65536.0f);
  ASSERT_EQ(scaler.events().size(), 2u);
  EXPECT_EQ(scaler.events()[1].step, 3501);
  EXPECT_FALSE(scaler.events()[1].skipped);
  EXPECT_EQ(scaler.events()[1].skipped_total, 1);
}

TEST(LossScaler, EveryOverflowHalvesAgainAndCountsSkips) {
  LossScaler scaler;
  for (int i = 1; i <= 5; ++i) {
    EXPECT_FALSE(scaler.update(true));
    EXPECT_EQ(scaler.scale(), std::ldexp(1.0f, 16 - i));
    EXPECT_EQ(scaler.consecutive_skips(), i);
  }
  EXPECT_TRUE(scaler.update(false));
  EXPECT_EQ(scaler.consecutive_skips(), 0);
  EXPECT_EQ(scaler.skipped_steps(), 5);
  const std::vector<ScaleEvent> events = scaler.take_events();
  ASSERT_EQ(events.size(), 5u);
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].step, static_cast<std::int64_t>(i + 1));
    EXPECT_TRUE(events[i].skipped);
    EXPECT_EQ(events[i].skipped_total, static_cast<std::int64_t>(i + 1));
  }
  EXPECT_TRUE(scaler.events().empty()) << "take_events drains";
}

TEST(LossScaler, NanGradientsSkipLikeInf) {
  LossScaler scaler;
  std::vector<float> grad = {65536.0f, -131072.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f};
  const bool found_inf = unscale_and_check(grad, scaler.inv_scale());
  EXPECT_TRUE(found_inf);
  EXPECT_FALSE(scaler.update(found_inf));
  EXPECT_EQ(scaler.scale(), 32768.0f);
  EXPECT_EQ(scaler.skipped_steps(), 1);
  // The finite entries were still unscaled (exactly: the inverse scale is a power of two).
  EXPECT_EQ(grad[0], 1.0f);
  EXPECT_EQ(grad[1], -2.0f);
}

TEST(LossScaler, CustomSettings) {
  LossScalerOptions options;
  options.init_scale = 1024.0;
  options.growth_factor = 4.0;
  options.backoff_factor = 0.25;
  options.growth_interval = 3;
  LossScaler scaler(options);
  EXPECT_EQ(scaler.scale(), 1024.0f);
  clean_steps(scaler, 2);
  EXPECT_EQ(scaler.scale(), 1024.0f);
  scaler.update(false);  // 3rd clean step
  EXPECT_EQ(scaler.scale(), 4096.0f);
  clean_steps(scaler, 2);
  EXPECT_FALSE(scaler.update(true));  // before the 3rd: no growth, backoff instead
  EXPECT_EQ(scaler.scale(), 1024.0f);
  clean_steps(scaler, 3);
  EXPECT_EQ(scaler.scale(), 4096.0f);

  // Interval 1: every clean step grows.
  options.growth_interval = 1;
  LossScaler every(options);
  every.update(false);
  every.update(false);
  EXPECT_EQ(every.scale(), 16384.0f);
}

TEST(LossScaler, ProductsAreRoundedToFloatLikePyTorch) {
  // A non-power-of-two backoff: each new scale is float(scale * backoff) with the product in
  // double, as GradScaler's kernel does. For 0.1 that differs from multiplying in float by
  // float(0.1): the second backoff gives 0.00999999978 in double, 0.0100000007 in float.
  LossScalerOptions options;
  options.init_scale = 1.0;
  options.backoff_factor = 0.1;
  LossScaler scaler(options);
  scaler.update(true);
  const float first = static_cast<float>(0.1);
  EXPECT_EQ(scaler.scale(), first);
  scaler.update(true);
  const float second = static_cast<float>(static_cast<double>(first) * 0.1);
  ASSERT_NE(second, first * first) << "the case no longer tells the two apart";
  EXPECT_EQ(scaler.scale(), second);
  EXPECT_EQ(scaler.inv_scale(), static_cast<float>(1.0 / static_cast<double>(second)));
}

TEST(LossScaler, GrowthStopsAtFloatsLimit) {
  LossScalerOptions options;
  options.init_scale = std::ldexp(1.0, 127);
  options.growth_interval = 1;
  LossScaler scaler(options);
  EXPECT_TRUE(scaler.update(false));
  EXPECT_EQ(scaler.scale(), std::ldexp(1.0f, 127)) << "2^128 is inf in float: keep the scale";
  EXPECT_TRUE(scaler.events().empty());
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

// The message of the tb::Error that validating `options` throws, or "" if none.
std::string validation_error(const LossScalerOptions& options) {
  try {
    LossScaler scaler(options);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LossScaler, ValidationNamesTheField) {
  LossScalerOptions o;
  EXPECT_NO_THROW(o.validate());

  o = {};
  o.growth_interval = 0;
  EXPECT_EQ(validation_error(o), "amp.growth_interval must be >= 1 (got 0)");
  o.growth_interval = -5;
  EXPECT_EQ(validation_error(o), "amp.growth_interval must be >= 1 (got -5)");

  o = {};
  o.growth_factor = 1.0;
  EXPECT_EQ(validation_error(o), "amp.growth_factor must be > 1 and finite (got 1)");
  o.growth_factor = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(validation_error(o).find("amp.growth_factor must be > 1"), std::string::npos);
  o.growth_factor = std::numeric_limits<double>::infinity();
  EXPECT_NE(validation_error(o).find("amp.growth_factor"), std::string::npos);

  o = {};
  for (double bad : {0.0, 1.0, -0.5, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    o.backoff_factor = bad;
    EXPECT_NE(validation_error(o).find("amp.backoff_factor must be > 0 and < 1 (got"),
              std::string::npos)
        << bad;
  }
  o.backoff_factor = 0.5;

  o = {};
  o.init_scale = 0.0;
  EXPECT_EQ(validation_error(o), "amp.init_scale must be > 0 and a finite float (got 0)");
  for (double bad : {-1.0, 1e39, std::numeric_limits<double>::infinity(),
                     std::numeric_limits<double>::quiet_NaN()}) {
    o.init_scale = bad;
    EXPECT_NE(validation_error(o).find("amp.init_scale must be > 0"), std::string::npos) << bad;
  }

  // Limits that are valid.
  o = {};
  o.growth_interval = 1;
  o.growth_factor = 1.0001;
  o.backoff_factor = 0.999;
  o.init_scale = 1e-30;
  EXPECT_EQ(validation_error(o), "");
}

TEST(LossScaler, UnscaleAndCheck) {
  std::vector<float> grad = {1024.0f, -3.0f, 0.0f, 6.5e4f};
  EXPECT_FALSE(unscale_and_check(grad, 0.25f));
  EXPECT_EQ(grad, (std::vector<float>{256.0f, -0.75f, 0.0f, 1.625e4f}));

  for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()}) {
    // Anywhere in a longer span, including past any vector block.
    for (std::size_t at : {0u, 7u, 16u, 36u}) {
      std::vector<float> g(37, 1.0f);
      g[at] = bad;
      EXPECT_TRUE(unscale_and_check(g, 0.5f)) << bad << " at " << at;
      EXPECT_EQ(g[at == 0 ? 1 : 0], 0.5f);
    }
  }
  // A finite gradient that unscaling overflows (scale below 1) is caught too.
  std::vector<float> big = {3e38f};
  EXPECT_TRUE(unscale_and_check(big, 2.0f));

  std::vector<float> empty;
  EXPECT_FALSE(unscale_and_check(empty, 0.5f));
  std::vector<float> extremes = {std::numeric_limits<float>::max(), -0.0f,
                                 std::numeric_limits<float>::denorm_min()};
  EXPECT_FALSE(unscale_and_check(extremes, 1.0f));
  // Long enough for the backend's parallel path.
  std::vector<float> long_grad(1 << 20, 2.0f);
  EXPECT_FALSE(unscale_and_check(long_grad, 0.5f));
  EXPECT_EQ(long_grad.back(), 1.0f);
  long_grad[(1 << 19) + 3] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(unscale_and_check(long_grad, 0.5f));
}

}  // namespace
}  // namespace tb::amp
