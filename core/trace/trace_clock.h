// TraceClock: the recorder's time source. On x86-64 with an invariant TSC (constant rate, not
// stopped in sleep states: what every CPU of the last decade has, and what Linux itself uses as
// its clocksource) a span's two time reads are RDTSC, about 11 ns each here, against about 30 ns
// for clock_gettime through the vDSO; that difference is most of a span's recording cost.
// Elsewhere it falls back to std::chrono::steady_clock.
//
// The tick rate is calibrated once per process against steady_clock over a few milliseconds
// (relative error about 1e-5: durations are exact to that, and timestamps drift from
// steady_clock by at most ~40 ms over an hour of recording).
#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace tb::trace {

class TraceClock {
 public:
  // Starts counting at zero now.
  TraceClock();

  std::int64_t now_ns() const {
#if defined(__x86_64__)
    if (use_tsc_) {
      // Signed: another core's counter may read a few ticks behind this one's origin.
      const auto ticks = static_cast<std::int64_t>(__rdtsc() - origin_ticks_);
      return static_cast<std::int64_t>(static_cast<double>(ticks) * ns_per_tick_);
    }
#endif
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                origin_)
        .count();
  }

  // Whether the TSC is in use (false: steady_clock).
  bool uses_tsc() const {
    return use_tsc_;
  }

 private:
  std::chrono::steady_clock::time_point origin_;
  std::uint64_t origin_ticks_ = 0;
  double ns_per_tick_ = 0.0;
  bool use_tsc_ = false;
};

}  // namespace tb::trace
