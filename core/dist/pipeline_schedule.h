// Pipeline schedules: in which order one stage of a pipeline-parallel model runs the forward and
// backward passes of the micro-batches a batch is split into. Pure functions, no communication:
// core/dist/pipeline.h executes these lists, and the tests check their invariants directly.
//
// p stages (one per rank), m micro-batches, stage s in [0, p). F(k) is micro-batch k's forward
// through the stage, B(k) its backward. Every schedule runs each F(k) and B(k) exactly once per
// stage, F(k) before B(k), and the forwards in ascending k (the order activations arrive in).
//
// - GPipe (Huang et al. 2019): every forward, then every backward, the backwards in descending k
//   (last in, first out, as autograd would: the last micro-batch's forward is still in the
//   layers, so its backward needs no re-materialisation). Holds all m micro-batches in flight.
// - 1F1B (PipeDream-Flush, Narayanan et al. 2021; Megatron-LM's default): a warm-up of
//   w = min(p - s - 1, m) forwards, then one forward and one backward alternately (F(w + i),
//   B(i)), then a cool-down of the remaining backwards in ascending k. The same bubble as GPipe,
//   but at most min(p - s, m) micro-batches in flight on stage s instead of m.
//
// Both leave the same idle fraction, the bubble, with equal per-stage forward and backward times:
// (p - 1) / (m + p - 1) of the step.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tb::dist {

enum class PipelineSchedule : std::uint8_t { gpipe, one_f_one_b };

// "gpipe" | "1f1b" -> the schedule; anything else throws tb::Error naming the value and the
// choices.
PipelineSchedule parse_pipeline_schedule(std::string_view name);
// The inverse of parse_pipeline_schedule: "gpipe" or "1f1b".
const char* pipeline_schedule_name(PipelineSchedule schedule);

struct PipelineOp {
  enum class Kind : std::uint8_t { forward, backward };
  Kind kind = Kind::forward;
  int microbatch = 0;  // k in [0, m)

  bool operator==(const PipelineOp&) const = default;
};

// The ops stage `stage` of `stages` runs for `microbatches` micro-batches, in order (2m ops).
// Throws tb::Error unless stages >= 1, 0 <= stage < stages and microbatches >= 1.
std::vector<PipelineOp> pipeline_ops(PipelineSchedule schedule, int stage, int stages,
                                     int microbatches);

// The fraction of a step each stage idles, with equal forward and backward times on every stage
// and no communication cost: (p - 1) / (m + p - 1). The same for GPipe and 1F1B. Throws tb::Error
// unless stages >= 1 and microbatches >= 1.
double predicted_bubble(int stages, int microbatches);

// "F0 F1 B1 B0": an op list as text, for messages and tests.
std::string describe_ops(const std::vector<PipelineOp>& ops);

}  // namespace tb::dist
