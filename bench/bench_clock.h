// Wall and CPU clocks of the GUI benchmarks: CPU time of the whole process (every thread), so a
// figure can be read apart from waiting for a core on a shared machine.
#pragma once

#include <time.h>

#include <chrono>

namespace tb::bench {

using Clock = std::chrono::steady_clock;

inline double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace tb::bench
