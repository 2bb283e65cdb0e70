#include "core/trace/trace_clock.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace tb::trace {
namespace {

struct Calibration {
  bool use_tsc = false;
  double ns_per_tick = 0.0;
};

#if defined(__x86_64__)
bool invariant_tsc() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) || eax < 0x80000007u) return false;
  if (!__get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx)) return false;
  return (edx & (1u << 8)) != 0;  // "TscInvariant"
}

// One (steady_clock, TSC) pair read as close together as the machine allows: of a few tries,
// the one whose bracketing steady_clock reads are nearest, its TSC set to their midpoint.
std::pair<std::chrono::steady_clock::time_point, std::uint64_t> paired_reading() {
  using Clock = std::chrono::steady_clock;
  auto best_gap = Clock::duration::max();
  std::pair<Clock::time_point, std::uint64_t> best{};
  for (int i = 0; i < 16; ++i) {
    const auto before = Clock::now();
    const std::uint64_t ticks = __rdtsc();
    const auto after = Clock::now();
    if (after - before < best_gap) {
      best_gap = after - before;
      best = {before + (after - before) / 2, ticks};
    }
  }
  return best;
}
#endif

Calibration calibrate() {
  Calibration calibration;
#if defined(__x86_64__)
  if (!invariant_tsc()) return calibration;
  using Clock = std::chrono::steady_clock;
  const auto [t0, c0] = paired_reading();
  while (Clock::now() - t0 < std::chrono::milliseconds(4)) {
  }
  const auto [t1, c1] = paired_reading();
  const double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
  if (c1 <= c0 || ns <= 0.0) return calibration;
  calibration.ns_per_tick = ns / static_cast<double>(c1 - c0);
  // A rate outside 100 MHz .. 20 GHz means the counter is not what it claims to be.
  calibration.use_tsc = calibration.ns_per_tick > 0.05 && calibration.ns_per_tick < 10.0;
#endif
  return calibration;
}

const Calibration& process_calibration() {
  static const Calibration calibration = calibrate();
  return calibration;
}

}  // namespace

TraceClock::TraceClock() {
  const Calibration& calibration = process_calibration();
  use_tsc_ = calibration.use_tsc;
  ns_per_tick_ = calibration.ns_per_tick;
  origin_ = std::chrono::steady_clock::now();
#if defined(__x86_64__)
  if (use_tsc_) origin_ticks_ = __rdtsc();
#endif
}

}  // namespace tb::trace
