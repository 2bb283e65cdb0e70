// What limits the run, with the evidence and the setting most likely to help, quantified.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
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

// Thresholds, as shares of the mean step (the breakdown's means, warm-up left out). Each limit
// that passes its threshold is a candidate; the largest share among them is the verdict.
// Without any: compute-bound when the device is busy (1 - GPU idle share), or in a CPU trace the
// forward+backward+optimizer parts are, at least kComputeBoundShare of the step; else balanced.
inline constexpr double kInputBoundShare = 0.15;  // data part
// The communication part not hidden under compute elsewhere (see CommunicationOverlap).
inline constexpr double kCommunicationBoundShare = 0.20;
inline constexpr double kMemoryBoundShare = 0.20;  // memcpy part (copies and memsets)
// Launch-bound: all at once — the GPU idles, the host is in runtime calls while it does, the
// kernels are many and tiny, and the idle time comes as many short gaps between device work:
// the device drains its queue after most kernels and waits about a launch for the next. A host
// or input stall idles the device too, but in a few long gaps (or in many, each far longer than
// a launch: an allocation before every kernel), which CUDA graphs would not remove.
inline constexpr double kLaunchGpuIdleShare = 0.30;
inline constexpr double kLaunchRuntimeShare = 0.10;  // runtime part
inline constexpr double kLaunchKernelsPerStep = 100.0;
inline constexpr double kLaunchMedianKernelNs = 10'000.0;
// Idle gaps a step for each kernel a step, at least.
inline constexpr double kLaunchGapsPerKernel = 0.5;
// The median gap, in median kernel lengths, at most: a framework's launch costs up to ~50 µs
// against kernels of a few µs.
inline constexpr double kLaunchMedianGapKernels = 25.0;
inline constexpr double kComputeBoundShare = 0.80;

// Communication and how much of it ran while compute ran elsewhere: collectives (MPI or NCCL)
// overlapping kernels or the engine's forward, backward and optimizer phases on another thread
// or stream are hidden under compute (a data-parallel run's bucketed all-reduces); on their own
// thread's timeline they are not (that thread waits). overlap share = hidden / communication.
struct CommunicationOverlap {
  std::int64_t communication_ns = 0;  // the union of the communication spans
  std::int64_t hidden_ns = 0;         // the part of it under compute on another track
  double share() const {
    return communication_ns > 0
               ? static_cast<double>(hidden_ns) / static_cast<double>(communication_ns)
               : 0.0;
  }
};
CommunicationOverlap communication_overlap(const Trace& trace);

struct Verdict {
  Bound bound = Bound::unknown;
  std::string headline;               // "input-bound: DataLoader is 40% of the step"
  std::vector<std::string> evidence;  // the numbers the verdict stands on
  std::string suggestion;             // "with 4 workers expect ≈ 1.4× faster steps"
  std::string setting;                // what to change: "data.loader.workers=4"; may be empty
  double expected_speedup = 1.0;      // of the suggestion, on the step time
  double share = 0.0;                 // the limiting part's share of the step (0..1)
};

// What the verdict knows of a session besides its trace: facts stored with the session's
// settings that the trace cannot tell.
struct SessionFacts {
  // The run's data loader worker count (data.loader.workers); -1 when unknown, as for imported
  // traces: a PyTorch DataLoader range named "..._SingleProcessDataLoaderIter..." then counts as
  // 0 workers.
  int loader_workers = -1;
  // The activity records CUPTI had no buffer for (profile.cupti_dropped_records); 0 when none
  // or not traced.
  std::int64_t cupti_dropped_records = 0;
};

// The facts among a session's settings as stored (store::Params) or as the compare view holds
// them (compare::FlatSettings): both are dotted key -> value pairs. A missing, malformed or
// negative value is read as unknown (-1 workers, 0 dropped) rather than thrown: the settings are
// a side input, and a bad one must not cost the user the rest of the analysis. profile.cupti is
// not read: it is the project's "true"/"false" on CPU runs and "on"/"off: why" on CUDA ones, and
// only a CUDA run that traced stores a dropped count.
SessionFacts session_facts(const std::vector<std::pair<std::string, std::string>>& params);

// Settings are named as the engine's project keys (data.loader.workers, train.threads) when the
// worker count is known or the trace is the engine's own (metadata "source" "trainbench", or a
// track of process "trainbench"), else as PyTorch's (DataLoader(num_workers=...),
// torch.set_num_threads).
//
// The input-bound suggestion's model: a batch costs one loader P of work. Loaded serially in the
// training loop (0 workers) the step is T = C + P, P = d·T; k workers loading in parallel with
// prefetch deliver a batch every P/k behind the compute C, so the step becomes max(C, P/k) and
// 4 workers are suggested. With w workers that still leave a wait the loader is the bottleneck
// (P/w = T): k = max(2w, ⌈w/(1-d)⌉) workers give max(C, w·T/k). Other suggestions are upper
// bounds: hiding the limiting part entirely gives 1 / (1 - share); compute-bound assumes mixed
// precision (GPU) or twice the threads (CPU) halves the busy part.
//
// When CUPTI dropped records, the evidence ends with a warning that the kernel timeline the
// figures come from is incomplete.
Verdict judge(const Trace& trace, const BreakdownReport& breakdown, const std::vector<OpStat>& ops,
              const SessionFacts& facts = {});

}  // namespace tb::trace
