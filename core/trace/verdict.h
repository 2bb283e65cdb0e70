// What limits the run, with the evidence and the setting most likely to help, quantified.
#pragma once

#include <string>
#include <vector>

#include "core/trace/breakdown.h"
#include "core/trace/model.h"
#include "core/trace/top_ops.h"

namespace tb::trace {

enum class Bound : std::uint8_t {
  input,          // the step waits for data
  compute,        // the device (or the CPU engine) is busy computing most of the step
  memory,         // copies / memory-bound kernels dominate
  launch,         // many tiny kernels: the host cannot launch fast enough, the device idles
  communication,  // collectives dominate
  balanced,       // nothing dominates; no single setting stands out
  unknown,        // no steps in the trace: nothing to judge
};
const char* bound_name(Bound bound);

struct Verdict {
  Bound bound = Bound::unknown;
  std::string headline;               // "input-bound: DataLoader is 40% of the step"
  std::vector<std::string> evidence;  // the numbers the verdict stands on
  std::string suggestion;             // "with 4 workers expect ≈ 1.4× faster steps"
  double expected_speedup = 1.0;      // of the suggestion, on the step time
  double share = 0.0;                 // the limiting part's share of the step (0..1)
};

// `loader_workers`: the run's data loader worker count when known (engine sessions' params,
// -1 when unknown, as for imported traces).
Verdict judge(const Trace& trace, const BreakdownReport& breakdown, const std::vector<OpStat>& ops,
              int loader_workers = -1);

}  // namespace tb::trace
