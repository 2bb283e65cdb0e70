#include "core/dist/pipeline_schedule.h"

#include <algorithm>

#include "core/util/error.h"

namespace tb::dist {
namespace {

void check_counts(const char* op, int stages, int microbatches) {
  if (stages < 1) {
    throw Error(std::string(op) + ": the stage count must be at least 1, got " +
                std::to_string(stages));
  }
  if (microbatches < 1) {
    throw Error(std::string(op) + ": the micro-batch count must be at least 1, got " +
                std::to_string(microbatches));
  }
}

}  // namespace

PipelineSchedule parse_pipeline_schedule(std::string_view name) {
  if (name == "gpipe") return PipelineSchedule::gpipe;
  if (name == "1f1b") return PipelineSchedule::one_f_one_b;
  throw Error("unknown pipeline schedule '" + std::string(name) + "' (allowed: gpipe, 1f1b)");
}

const char* pipeline_schedule_name(PipelineSchedule schedule) {
  return schedule == PipelineSchedule::gpipe ? "gpipe" : "1f1b";
}

std::vector<PipelineOp> pipeline_ops(PipelineSchedule schedule, int stage, int stages,
                                     int microbatches) {
  check_counts("pipeline_ops", stages, microbatches);
  if (stage < 0 || stage >= stages) {
    throw Error("pipeline_ops: stage " + std::to_string(stage) + " is not in [0, " +
                std::to_string(stages) + ")");
  }
  using Kind = PipelineOp::Kind;
  const int m = microbatches;
  std::vector<PipelineOp> ops;
  ops.reserve(2 * static_cast<std::size_t>(m));
  if (schedule == PipelineSchedule::gpipe) {
    for (int k = 0; k < m; ++k) ops.push_back({Kind::forward, k});
    for (int k = m - 1; k >= 0; --k) ops.push_back({Kind::backward, k});
    return ops;
  }
  // 1F1B: stage s must have run as many forwards as there are stages after it before the first
  // backward can come back to it; then every forward is paired with the oldest open backward.
  const int warmup = std::min(stages - stage - 1, m);
  for (int k = 0; k < warmup; ++k) ops.push_back({Kind::forward, k});
  for (int i = 0; i < m - warmup; ++i) {
    ops.push_back({Kind::forward, warmup + i});
    ops.push_back({Kind::backward, i});
  }
  for (int k = m - warmup; k < m; ++k) ops.push_back({Kind::backward, k});
  return ops;
}

double predicted_bubble(int stages, int microbatches) {
  check_counts("predicted_bubble", stages, microbatches);
  return static_cast<double>(stages - 1) / static_cast<double>(microbatches + stages - 1);
}

std::string describe_ops(const std::vector<PipelineOp>& ops) {
  std::string text;
  for (const PipelineOp& op : ops) {
    if (!text.empty()) text += ' ';
    text += op.kind == PipelineOp::Kind::forward ? 'F' : 'B';
    text += std::to_string(op.microbatch);
  }
  return text;
}

}  // namespace tb::dist
