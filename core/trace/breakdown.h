// Where a training step's time goes: each step split into parts that add up to the step.
//
// At every instant of a step the highest-priority activity wins (kernel > memcpy > memset >
// communication > runtime > data loader > CPU > other), so overlapping activity is counted once:
// a kernel running while the host launches the next one counts as the kernel. Kernel and CPU
// time are then attributed to the training phase they belong to — forward, backward or
// optimizer — from the engine's phase spans, or, in imported PyTorch traces, from the enclosing
// ranges (autograd's backward functions, Optimizer.step, record_function "forward"/"backward"),
// and for a kernel, from the host op that launched it (its flow; a launch on CUPTI's runtime-call
// track, which marks no phase, takes the phase open on the host then), else the phase active on
// a host thread at its start. Activity in no phase range counts as forward in a trace that marks no
// forward spans (a PyTorch trace: what is not data, backward or optimizer is forward), and as
// `other` in one that does (the engine's data/forward/backward/optimizer spans). Loader worker
// tracks decode ahead in the background and are not step activity; ranges that enclose whole
// steps (a profiler session, an epoch) are not activity either. See step_phase.h.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/trace/model.h"

namespace tb::trace {

enum class StepPart : std::uint8_t {
  data,           // waiting for or loading the batch
  forward,        //
  backward,       //
  optimizer,      //
  communication,  // collectives
  memcpy,         // device copies and memsets the step waits on
  runtime,        // host in CUDA runtime calls (launch, sync) with nothing on the device
  other,          // busy, but in no known phase
  idle,           // nothing recorded on any track of the step
};
inline constexpr int kStepPartCount = 9;
const char* step_part_name(StepPart part);

struct StepBreakdown {
  std::int64_t step = 0;  // the step's number (ProfilerStep#N, the engine's step)
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::array<std::int64_t, kStepPartCount> part_ns{};  // sums to end_ns - start_ns
  // Time inside data-loading ranges (DataLoader, the engine's data spans) on the host threads,
  // whatever else runs meanwhile. The data part is the share of it with nothing of higher
  // priority running: less when the GPU is still finishing the previous step's kernels.
  std::int64_t data_range_ns = 0;
};

struct BreakdownReport {
  std::vector<StepBreakdown> steps;  // by start
  double mean_step_ns = 0.0;
  std::array<double, kStepPartCount> mean_part_ns{};  // over steps
  double mean_data_range_ns = 0.0;                    // StepBreakdown::data_range_ns, over steps
  // Share of step time (the steps in the means) with no kernel, copy or collective on any device
  // (gpu_stream) track; nullopt when the trace has no device tracks.
  std::optional<double> gpu_idle_share;
  std::int64_t device_tracks = 0;
  // The steps left out of the means (the first step of a trace is warm-up when there are >2).
  std::int64_t warmup_steps_skipped = 0;
  // The trace holds the steps of several ranks (a parallel run's session): only the lowest rank's
  // steps and tracks are in this report.
  bool ranks_left_out = false;
};

// Steps are the trace's step spans (Category::step); a trace without any gives no steps. A
// step's number is its span's `step`, else the N of its name's "#N", else its position from 1.
// Steps that overlap each get the time they cover. One sweep over all segments: O(n log n).
BreakdownReport step_breakdown(const Trace& trace);

}  // namespace tb::trace
