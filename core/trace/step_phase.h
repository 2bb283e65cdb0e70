// What the step analyses see in a trace: which activity each instant of each track holds, and
// which training phase (data, forward, backward, optimizer) it serves.
//
// A host track's spans nest (an op inside Optimizer.step inside ProfilerStep#3), so each host
// track is flattened into disjoint segments: at every instant, the innermost span's phase and the
// highest activity class of the spans enclosing it (a cpu_op inside a DataLoader range is data
// loading; a cudaMemcpy inside it is a runtime call). Device spans (on gpu_stream tracks) keep
// their own extent and take the phase of the host op that launched them (launched from a track
// that marks no phase, as CUPTI's "CUDA API (thread N)" tracks, the phase open on the host threads
// at the launch: the engine's phase span); only kernels, copies, memsets and collectives count
// there (a gpu_user_annotation copy of a host range does not).
// breakdown.cpp then sweeps these segments across the steps.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/trace/model.h"

namespace tb::trace {

// The training phase of an instant. `none`: no enclosing range says (breakdown.cpp decides:
// forward in a trace with no explicit phase spans, otherwise `other`).
enum class Phase : std::uint8_t { none, data, forward, backward, optimizer };
inline constexpr int kPhaseCount = 5;

// Activity classes in ascending priority: where several are active at once, the highest counts.
// kernel > memcpy > memset > communication > runtime > data loader > CPU > other; `none` is no
// activity at all (a step span, or a range that encloses whole steps such as a profiler session).
enum class Activity : std::uint8_t {
  none,
  other,
  cpu,
  data,
  runtime,
  communication,
  memset,
  memcpy,
  kernel
};
inline constexpr int kActivityCount = 9;

// The phase a range sets for itself and everything inside it, or none:
// - the engine's (or an importer's) phase categories data / forward / backward / optimizer;
// - PyTorch DataLoader ranges ("enumerate(DataLoader)#...") → data;
// - autograd: "autograd::engine::evaluate_function: ...", "...Backward", "...Backward0/1" (any
//   digits), "torch::autograd::AccumulateGrad" → backward;
// - "Optimizer.step#..." and "Optimizer.zero_grad#..." → optimizer;
// - a cpu_op / annotation named exactly "data", "forward", "backward" or "optimizer" → that.
Phase phase_defined_by(Category category, std::string_view name);

// The activity class of a span of `category` (on a host track; device tracks use the same
// classes). NCCL kernels ("nccl..." names) are communication whatever their category says.
Activity activity_of(Category category, std::string_view name);

// Loader worker tracks decode batches in the background: that is not step activity. Stored
// engine traces mark them TrackKind::loader_worker; tracks named "loader worker N" count too.
bool is_loader_track(const Track& track);
// A device track: a GPU stream.
bool is_device_track(const Track& track);

struct ActivitySegment {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;  // > start_ns
  Activity activity = Activity::none;
  Phase phase = Phase::none;
  bool device = false;  // on a device track
};

struct StepSpan {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
};

// The activity segments of every track but the loader workers', by start. `steps` (sorted by
// start) are used to make ranges that enclose a whole step and reach beyond it (a profiler
// session, an epoch; steps themselves) transparent: they would otherwise fill every step's idle
// time. Segments with Activity::none are left out. O(n log n) in the spans and flows.
// `rank`: only the tracks of that rank (a session holding every rank of a parallel run is judged
// one rank at a time); nullopt: every track.
std::vector<ActivitySegment> activity_segments(const Trace& trace,
                                               const std::vector<StepSpan>& steps,
                                               std::optional<std::int64_t> rank = std::nullopt);

// True when the trace marks its forward phase with explicit spans (Category::forward: the
// engine's, or record_function("forward") imported): unmarked activity inside a step is then
// `other`. Otherwise forward is what is left once data, backward and optimizer ranges are known
// (PyTorch names those, not forward), so unmarked activity counts as forward.
bool marks_forward_explicitly(const Trace& trace);

// Whether a range [start_ns, end_ns] encloses a whole step of `steps` (sorted by start) and
// reaches beyond it: a profiler session or an epoch around the steps, not an op inside one.
bool encloses_a_step(const std::vector<StepSpan>& steps, std::int64_t start_ns,
                     std::int64_t end_ns);

}  // namespace tb::trace
