// Ops and kernels by total time, and the diff of two traces' ops.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/trace/model.h"

namespace tb::trace {

struct OpStat {
  std::string name;
  Category category = Category::other;
  std::int64_t count = 0;
  std::int64_t total_ns = 0;  // summed durations (self time is not subtracted)
  double mean_ns = 0.0;
  double share = 0.0;  // of the summed durations of the same side (host or device)
};

// Every distinct (name, category) of the trace except steps, by total time, longest first;
// `limit` 0: all. Host ops' shares are of all host op time, device ops' of all device time.
// Ranges that enclose whole steps (a profiler session) and host ranges copied onto GPU streams
// (gpu_user_annotation) are no ops and are left out.
std::vector<OpStat> top_ops(const Trace& trace, std::size_t limit = 0);

enum class DiffKind : std::uint8_t { added, removed, faster, slower, same };
const char* diff_kind_name(DiffKind kind);

struct OpDiff {
  std::string name;
  Category category = Category::other;
  DiffKind kind = DiffKind::same;
  OpStat before;                    // count 0 when added
  OpStat after;                     // count 0 when removed
  std::int64_t delta_total_ns = 0;  // after.total_ns - before.total_ns
  double delta_per_step_ns = 0.0;   // after's total / its steps - before's total / its steps;
                                    // delta_total_ns when either trace has no step spans
};

// Ops in `before` and `after` matched by (name, category), sorted by |delta_per_step_ns| largest
// first (per step, so a trace of 6 steps compares with one of 10). `threshold` (relative change
// of mean time) decides faster/slower versus same.
std::vector<OpDiff> diff_ops(const Trace& before, const Trace& after, double threshold = 0.05);

}  // namespace tb::trace
