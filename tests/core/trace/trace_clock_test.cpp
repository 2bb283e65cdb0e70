#include "core/trace/trace_clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace tb::trace {
namespace {

// Whatever the source (TSC or steady_clock), the recorder's clock starts near zero, never runs
// backwards on one thread, and agrees with steady_clock on an interval: a calibration off by
// even a few percent fails here.
TEST(TraceClock, StartsAtZeroIsMonotonicAndMatchesSteadyClock) {
  const TraceClock clock;
  const auto steady_start = std::chrono::steady_clock::now();
  const std::int64_t start = clock.now_ns();
  EXPECT_GE(start, 0);
  EXPECT_LT(start, 50'000'000);  // made a moment ago
  std::int64_t last = start;
  for (int i = 0; i < 100000; ++i) {
    const std::int64_t now = clock.now_ns();
    ASSERT_GE(now, last);
    last = now;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::int64_t ours = clock.now_ns() - start;
  const auto steady = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now() - steady_start)
                          .count();
  // The two reads of each clock are not simultaneous: allow a millisecond of scheduling.
  EXPECT_NEAR(static_cast<double>(ours), static_cast<double>(steady), 1e6 + steady * 0.01)
      << (clock.uses_tsc() ? "TSC" : "steady_clock");
}

}  // namespace
}  // namespace tb::trace
