#include "core/trace/verdict.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <string_view>
#include <tuple>

#include "core/trace/step_phase.h"

namespace tb::trace {
namespace {

constexpr std::array<const char*, 7> kBoundNames = {
    "input-bound",         "compute-bound", "memory-bound", "launch-bound",
    "communication-bound", "balanced",      "unknown"};

std::string format(const char* pattern, auto... values) {
  char buffer[512];
  std::snprintf(buffer, sizeof buffer, pattern, values...);
  return buffer;
}

std::string percent(double share) {
  return format("%.1f%%", 100.0 * share);
}

std::string duration(double ns) {
  if (ns >= 1e9) return format("%.2f s", ns * 1e-9);
  if (ns >= 1e6) return format("%.1f ms", ns * 1e-6);
  if (ns >= 1e3) return format("%.1f µs", ns * 1e-3);
  return format("%.0f ns", ns);
}

// Kernel names carry whole C++ signatures: the text before the argument list is enough.
std::string short_name(const std::string& name) {
  constexpr std::size_t kMax = 80;
  std::string out = name.substr(0, name.find('('));
  if (out.empty()) out = name;
  return out.size() > kMax ? out.substr(0, kMax) + "..." : out;
}

std::string times(double speedup) {
  return format("≈ %.2f×", speedup);
}

// For a part of the step (`share` of it) that the setting hides or removes entirely: up to
// 1 / (1 - share) faster steps, said at the end of `how`.
void suggest_removing(Verdict& v, double share, const char* setting, const std::string& how) {
  v.expected_speedup = 1.0 / (1.0 - share);
  v.setting = setting;
  v.suggestion = how + times(v.expected_speedup) + " faster steps";
}

// Kernels that start inside the counted steps (the breakdown's, warm-up left out): how many a
// step, and their median duration.
struct KernelStats {
  double per_step = 0.0;
  double median_ns = 0.0;
  // The idle gaps between device work (any device track busy counts as busy) inside the
  // counted steps: a launch-bound step shows as many short gaps, a host-bound one as few long.
  double gaps_per_step = 0.0;
  double median_gap_ns = 0.0;
  double longest_gap_ns = 0.0;
};

// Gaps between the busy intervals of device spans, per step; `device` holds (start, end) of every
// device span inside a counted step, sorted by start, tagged with the step's index.
void add_gap_stats(std::vector<std::tuple<std::size_t, std::int64_t, std::int64_t>>& device,
                   std::size_t steps, KernelStats& stats) {
  std::sort(device.begin(), device.end());
  std::vector<std::int64_t> gaps;
  for (std::size_t i = 0; i < device.size();) {
    const std::size_t step = std::get<0>(device[i]);
    std::int64_t busy_until = std::get<2>(device[i]);
    for (++i; i < device.size() && std::get<0>(device[i]) == step; ++i) {
      const auto [_, start, end] = device[i];
      if (start > busy_until) gaps.push_back(start - busy_until);
      busy_until = std::max(busy_until, end);
    }
  }
  if (gaps.empty() || steps == 0) return;
  stats.gaps_per_step = static_cast<double>(gaps.size()) / static_cast<double>(steps);
  stats.longest_gap_ns = static_cast<double>(*std::max_element(gaps.begin(), gaps.end()));
  const auto middle = gaps.begin() + static_cast<std::ptrdiff_t>(gaps.size() / 2);
  std::nth_element(gaps.begin(), middle, gaps.end());
  stats.median_gap_ns = static_cast<double>(*middle);
}

KernelStats kernel_stats(const Trace& trace, const BreakdownReport& breakdown) {
  const auto first = static_cast<std::size_t>(breakdown.warmup_steps_skipped);
  std::vector<std::pair<std::int64_t, std::int64_t>> steps;  // counted steps, by start
  for (std::size_t i = first; i < breakdown.steps.size(); ++i) {
    steps.emplace_back(breakdown.steps[i].start_ns, breakdown.steps[i].end_ns);
  }
  std::vector<std::int64_t> durations;
  std::vector<std::tuple<std::size_t, std::int64_t, std::int64_t>> device;  // (step, start, end)
  for (const Span& span : trace.spans()) {
    if (!is_device_category(span.category)) continue;
    if (trace.track(span.track).kind != TrackKind::gpu_stream) continue;
    auto it = std::upper_bound(steps.begin(), steps.end(), span.start_ns,
                               [](std::int64_t t, const auto& s) { return t < s.first; });
    if (it == steps.begin() || span.start_ns >= std::prev(it)->second) continue;
    const auto step = static_cast<std::size_t>(std::prev(it) - steps.begin());
    device.emplace_back(step, span.start_ns, std::min(span.end_ns, std::prev(it)->second));
    if (span.category == Category::kernel) durations.push_back(span.end_ns - span.start_ns);
  }
  KernelStats stats;
  add_gap_stats(device, steps.size(), stats);
  if (durations.empty() || steps.empty()) return stats;
  stats.per_step = static_cast<double>(durations.size()) / static_cast<double>(steps.size());
  const auto middle = durations.begin() + static_cast<std::ptrdiff_t>(durations.size() / 2);
  std::nth_element(durations.begin(), middle, durations.end());
  stats.median_ns = static_cast<double>(*middle);
  return stats;
}

// The device idles in many short gaps between kernels (see kLaunchGapsPerKernel), not in a few
// long ones.
bool many_short_gaps(const KernelStats& k) {
  return k.per_step > 0 && k.gaps_per_step >= kLaunchGapsPerKernel * k.per_step &&
         k.median_gap_ns <= kLaunchMedianGapKernels * k.median_ns;
}

// What the trace says about its DataLoader when the caller does not know the worker count:
// PyTorch names the iterator of a loader without workers _SingleProcessDataLoaderIter.
enum class LoaderKind { unknown, single_process, multi_process };

LoaderKind loader_kind(const Trace& trace) {
  for (const Span& span : trace.spans()) {
    if (span.category == Category::step) continue;
    const std::string_view name = trace.name(span.name);
    if (name.find("_SingleProcessDataLoaderIter") != std::string_view::npos) {
      return LoaderKind::single_process;
    }
    if (name.find("_MultiProcessingDataLoaderIter") != std::string_view::npos) {
      return LoaderKind::multi_process;
    }
  }
  return LoaderKind::unknown;
}

double share_of(const BreakdownReport& b, StepPart part) {
  return b.mean_step_ns > 0 ? b.mean_part_ns[static_cast<std::size_t>(part)] / b.mean_step_ns : 0.0;
}

// The largest part of the mean step.
StepPart largest_part(const BreakdownReport& b) {
  int best = 0;
  for (int p = 1; p < kStepPartCount; ++p) {
    if (b.mean_part_ns[static_cast<std::size_t>(p)] >
        b.mean_part_ns[static_cast<std::size_t>(best)]) {
      best = p;
    }
  }
  return static_cast<StepPart>(best);
}

// "data 40.1%, backward 30.2%, ..." — every part with time, largest first.
std::string parts_line(const BreakdownReport& b) {
  std::vector<std::pair<double, StepPart>> parts;
  for (int p = 0; p < kStepPartCount; ++p) {
    const auto part = static_cast<StepPart>(p);
    if (share_of(b, part) > 0.0) parts.emplace_back(share_of(b, part), part);
  }
  std::stable_sort(parts.begin(), parts.end(),
                   [](const auto& x, const auto& y) { return x.first > y.first; });
  std::string line = "step parts: ";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) line += ", ";
    line += std::string(step_part_name(parts[i].second)) + " " + percent(parts[i].first);
  }
  return line;
}

// The input-bound suggestion. The model: a batch costs one loader P of work. Loading serially in
// the training loop (0 workers), the step is T = C + P with P = d·T; with k workers loading in
// parallel and prefetching, batches arrive every P/k and loading overlaps compute, so the step
// becomes max(C, P/k). With w workers that still leave a wait, the loader is the bottleneck: one
// batch per step means P/w = T, so k workers give max(C, w·T/k).
void suggest_workers(Verdict& v, const Trace& trace, const BreakdownReport& b, double d,
                     int loader_workers, bool engine) {
  const LoaderKind kind = loader_workers >= 0 ? LoaderKind::unknown : loader_kind(trace);
  int workers = loader_workers;  // -1: unknown
  if (kind == LoaderKind::single_process) workers = 0;
  const double compute = 1.0 - d;
  int k = 0;
  double new_share = 0.0;  // of today's step
  std::string basis;
  if (workers == 0 || (workers < 0 && kind == LoaderKind::unknown)) {
    k = 4;
    new_share = std::max(compute, d / k);
    basis = workers == 0 ? "the batch is loaded in the training loop (0 workers)"
                         : "assuming the batch is loaded in the training loop";
    if (kind == LoaderKind::single_process) basis += ", as _SingleProcessDataLoaderIter shows";
  } else {
    // w known, or several workers of unknown count (then doubling is all the model can say).
    const double w = workers > 0 ? workers : 1.0;
    k = workers > 0 ? std::max(2 * workers, static_cast<int>(std::ceil(w / compute))) : 0;
    new_share = std::max(compute, workers > 0 ? w / k : 0.5);
    basis = workers > 0 ? format("%d workers cannot keep up", workers)
                        : std::string("the DataLoader's workers cannot keep up");
  }
  v.expected_speedup = 1.0 / new_share;
  const std::string count = k > 0 ? std::to_string(k) : std::string("twice as many");
  if (engine) {
    v.setting = k > 0 ? "data.loader.workers=" + std::to_string(k) : "data.loader.workers";
  } else {
    v.setting = k > 0 ? "DataLoader(num_workers=" + std::to_string(k) + ")" : "num_workers";
  }
  v.evidence.push_back("loader: " + basis);
  v.suggestion = format(
      "set %s: with %s workers loading in parallel and prefetching behind the "
      "%s of compute, expect %s faster steps (%s → %s)",
      v.setting.c_str(), count.c_str(), percent(compute).c_str(), times(v.expected_speedup).c_str(),
      duration(b.mean_step_ns).c_str(), duration(b.mean_step_ns * new_share).c_str());
}

// The engine's own trace: its recorder puts every track in process "trainbench"; an imported
// Trainbench export says so in its metadata.
bool is_engine_trace(const Trace& trace) {
  const auto source = trace.metadata.find("source");
  if (source != trace.metadata.end() && source->is_string() && *source == "trainbench") {
    return true;
  }
  return std::any_of(trace.tracks().begin(), trace.tracks().end(),
                     [](const Track& t) { return t.process == "trainbench"; });
}

using Interval = std::pair<std::int64_t, std::int64_t>;

// Sorted, non-overlapping: the union of `intervals`.
std::vector<Interval> union_of(std::vector<Interval> intervals) {
  std::sort(intervals.begin(), intervals.end());
  std::vector<Interval> merged;
  for (const auto& [start, end] : intervals) {
    if (!merged.empty() && start <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, end);
    } else {
      merged.emplace_back(start, end);
    }
  }
  return merged;
}

// The length of the intersection of two unions.
std::int64_t overlap_of(const std::vector<Interval>& a, const std::vector<Interval>& b) {
  std::int64_t total = 0;
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const std::int64_t start = std::max(a[i].first, b[j].first);
    const std::int64_t end = std::min(a[i].second, b[j].second);
    if (end > start) total += end - start;
    (a[i].second < b[j].second ? i : j)++;
  }
  return total;
}

bool is_compute(Category c) {
  return c == Category::kernel || c == Category::forward || c == Category::backward ||
         c == Category::optimizer;
}

}  // namespace

CommunicationOverlap communication_overlap(const Trace& trace) {
  // Per track: its communication, and its compute (hidden means under another track's compute).
  std::map<std::uint32_t, std::vector<Interval>> communication, compute;
  for (const Span& s : trace.spans()) {
    if (s.category == Category::communication) {
      communication[s.track.value].emplace_back(s.start_ns, s.end_ns);
    } else if (is_compute(s.category)) {
      compute[s.track.value].emplace_back(s.start_ns, s.end_ns);
    }
  }
  CommunicationOverlap result;
  for (auto& [track, spans] : communication) {
    const auto own = union_of(std::move(spans));
    std::vector<Interval> elsewhere;
    // Compute of the same rank: another rank's work does not hide this rank's wait.
    const std::int64_t rank = trace.track(TrackId(track)).rank;
    for (const auto& [other, busy] : compute) {
      if (other != track && trace.track(TrackId(other)).rank == rank) {
        elsewhere.insert(elsewhere.end(), busy.begin(), busy.end());
      }
    }
    for (const auto& [start, end] : own) result.communication_ns += end - start;
    result.hidden_ns += overlap_of(own, union_of(std::move(elsewhere)));
  }
  return result;
}

const char* bound_name(Bound bound) {
  const auto index = static_cast<std::size_t>(bound);
  return index < kBoundNames.size() ? kBoundNames[index] : "unknown";
}

namespace {

// The verdict from the trace alone.
Verdict judge_steps(const Trace& trace, const BreakdownReport& breakdown,
                    const std::vector<OpStat>& ops, int loader_workers) {
  Verdict v;
  if (breakdown.steps.empty() || breakdown.mean_step_ns <= 0) {
    v.headline = "unknown: the trace has no training steps to judge";
    return v;
  }
  const auto& b = breakdown;
  const double data = share_of(b, StepPart::data);
  // Collectives hidden under compute on another track do not lengthen the step.
  const CommunicationOverlap overlap = communication_overlap(trace);
  const double communication_part = share_of(b, StepPart::communication);
  const double communication = communication_part * (1.0 - overlap.share());
  const double memcpy = share_of(b, StepPart::memcpy);
  const double runtime = share_of(b, StepPart::runtime);
  const double phases = share_of(b, StepPart::forward) + share_of(b, StepPart::backward) +
                        share_of(b, StepPart::optimizer);
  const bool gpu = b.gpu_idle_share.has_value();
  const double gpu_busy = gpu ? 1.0 - *b.gpu_idle_share : 0.0;
  const KernelStats kernels = gpu ? kernel_stats(trace, b) : KernelStats{};
  // Settings are named as the engine's project keys for its own runs, else as PyTorch's.
  const bool engine = loader_workers >= 0 || is_engine_trace(trace);

  const std::int64_t counted = static_cast<std::int64_t>(b.steps.size()) - b.warmup_steps_skipped;
  v.evidence.push_back(
      format("mean step %s over %lld steps%s", duration(b.mean_step_ns).c_str(),
             static_cast<long long>(counted),
             b.warmup_steps_skipped > 0 ? " (the first left out as warm-up)" : ""));
  v.evidence.push_back(parts_line(b));
  if (gpu) {
    v.evidence.push_back(
        format("GPU idle %s of the step (%lld device track%s)", percent(*b.gpu_idle_share).c_str(),
               static_cast<long long>(b.device_tracks), b.device_tracks == 1 ? "" : "s"));
  }
  if (kernels.per_step > 0) {
    v.evidence.push_back(format("%.0f kernels a step, median %s", kernels.per_step,
                                duration(kernels.median_ns).c_str()));
  }
  if (kernels.gaps_per_step > 0) {
    v.evidence.push_back(format("%.0f idle gaps between device work a step, median %s, longest %s",
                                kernels.gaps_per_step, duration(kernels.median_gap_ns).c_str(),
                                duration(kernels.longest_gap_ns).c_str()));
  }
  if (overlap.communication_ns > 0) {
    v.evidence.push_back(
        format("communication %s of the step; %s of its time hidden under "
               "compute on other threads or streams (overlap share), %s exposed",
               percent(communication_part).c_str(), percent(overlap.share()).c_str(),
               percent(communication).c_str()));
  }
  if (b.mean_data_range_ns > 0) {
    v.evidence.push_back(
        format("data-loading ranges %s of the step, %s with nothing of higher "
               "priority running meanwhile",
               percent(b.mean_data_range_ns / b.mean_step_ns).c_str(), percent(data).c_str()));
  }
  for (const OpStat& op : ops) {  // ops are longest first: the first device op is the top one
    if (is_device_category(op.category)) {
      v.evidence.push_back(format("top device op: %s, %s of device time",
                                  short_name(op.name).c_str(), percent(op.share).c_str()));
      break;
    }
  }

  // The candidates that pass their threshold; the largest share is the verdict.
  struct Candidate {
    Bound bound;
    double share;
  };
  std::vector<Candidate> candidates;
  if (data >= kInputBoundShare) candidates.push_back({Bound::input, data});
  if (communication >= kCommunicationBoundShare) {
    candidates.push_back({Bound::communication, communication});
  }
  if (memcpy >= kMemoryBoundShare) candidates.push_back({Bound::memory, memcpy});
  const bool launch = gpu && *b.gpu_idle_share >= kLaunchGpuIdleShare &&
                      runtime >= kLaunchRuntimeShare && kernels.per_step >= kLaunchKernelsPerStep &&
                      kernels.median_ns < kLaunchMedianKernelNs && many_short_gaps(kernels);
  if (launch) candidates.push_back({Bound::launch, runtime});
  const auto top = std::max_element(candidates.begin(), candidates.end(),
                                    [](const auto& x, const auto& y) { return x.share < y.share; });

  if (top != candidates.end()) {
    v.bound = top->bound;
    v.share = top->share;
  } else if (gpu ? gpu_busy >= kComputeBoundShare : phases >= kComputeBoundShare) {
    v.bound = Bound::compute;
    v.share = gpu ? gpu_busy : phases;
  } else {
    v.bound = Bound::balanced;
    v.share = share_of(b, largest_part(b));
  }

  switch (v.bound) {
    case Bound::input:
      v.headline = "input-bound: data loading is " + percent(data) + " of the step";
      suggest_workers(v, trace, b, data, loader_workers, engine);
      break;
    case Bound::communication:
      v.headline = "communication-bound: collectives are " + percent(communication) +
                   " of the step with nothing else running (" + percent(overlap.share()) +
                   " of their time hidden under compute)";
      suggest_removing(v, communication, "overlap gradient all-reduce with backward",
                       "overlap the gradient all-reduce with backward (bucketed gradients, as DDP "
                       "does) or raise the batch per rank: hiding it fully gives up to ");
      break;
    case Bound::memory:
      v.headline = "memory-bound: copies and memsets are " + percent(memcpy) +
                   " of the step with no kernel running";
      suggest_removing(v, memcpy, "pinned memory, asynchronous copies",
                       "pin host memory and copy asynchronously (pin_memory=True, "
                       "to(..., non_blocking=True)) so copies overlap kernels: hiding them gives "
                       "up to ");
      break;
    case Bound::launch:
      v.headline = "launch-bound: the GPU idles " + percent(*b.gpu_idle_share) +
                   format(
                       " of the step, in %.0f short gaps a step (median %s), while the host "
                       "launches many tiny kernels",
                       kernels.gaps_per_step, duration(kernels.median_gap_ns).c_str());
      v.evidence.push_back("host in runtime calls with the device idle: " + percent(runtime) +
                           " of the step");
      suggest_removing(v, runtime, "CUDA graphs / fused kernels",
                       "capture the step in a CUDA graph or fuse small ops (torch.compile): "
                       "removing the launch gaps gives up to ");
      break;
    case Bound::compute:
      if (gpu) {
        v.headline = "compute-bound: the GPU is busy " + percent(gpu_busy) + " of the step";
        // If mixed precision halves the kernels' time (tensor cores on convolutions and
        // matmuls), the busy part halves.
        v.expected_speedup = 1.0 / (1.0 - gpu_busy / 2.0);
        v.setting = engine ? "precision=bf16" : "torch.autocast (bf16/fp16)";
        v.suggestion = "make the kernels faster: mixed precision (" + v.setting +
                       "); if it halves kernel time, expect " + times(v.expected_speedup) +
                       " faster steps; input or launch settings have at most " +
                       percent(1.0 - gpu_busy) + " of the step to win";
      } else {
        v.headline = "compute-bound: forward, backward and optimizer are " + percent(phases) +
                     " of the step";
        v.expected_speedup = 1.0 / (1.0 - phases / 2.0);
        v.setting = engine ? "train.threads" : "torch.set_num_threads";
        // Only threads: the CPU engine widens 16-bit weights into f32 for its math, so bf16
        // there saves memory, not time.
        v.suggestion = "make the math faster: with twice the " + v.setting +
                       ", if the math scales with the cores, expect up to " +
                       times(v.expected_speedup) +
                       " faster steps; the input pipeline has at most " + percent(1.0 - phases) +
                       " of the step to win";
      }
      break;
    case Bound::balanced:
    case Bound::unknown:
      v.headline = "balanced: no single part dominates the step";
      v.expected_speedup = 1.0;
      v.suggestion = "no single setting stands out: the largest part is " +
                     std::string(step_part_name(largest_part(b))) + " at " + percent(v.share) +
                     (gpu ? ", and the GPU is busy " + percent(gpu_busy) + " of the step" : "");
      break;
  }
  return v;
}

// A whole number as the engine stores it, or nullopt.
template <typename T>
std::optional<T> stored_number(const std::string& text) {
  T value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

SessionFacts session_facts(const std::vector<std::pair<std::string, std::string>>& params) {
  SessionFacts facts;
  for (const auto& [key, value] : params) {
    if (key == "data.loader.workers") {
      const auto workers = stored_number<int>(value);
      facts.loader_workers = workers && *workers >= 0 ? *workers : -1;
    } else if (key == "profile.cupti_dropped_records") {
      facts.cupti_dropped_records =
          std::max<std::int64_t>(0, stored_number<std::int64_t>(value).value_or(0));
    }
  }
  return facts;
}

Verdict judge(const Trace& trace, const BreakdownReport& breakdown, const std::vector<OpStat>& ops,
              const SessionFacts& facts) {
  Verdict v = judge_steps(trace, breakdown, ops, facts.loader_workers);
  if (facts.cupti_dropped_records > 0) {
    v.evidence.push_back(format(
        "CUPTI dropped %lld records: the kernel timeline is incomplete, so the GPU idle, kernel "
        "and gap figures are approximate",
        static_cast<long long>(facts.cupti_dropped_records)));
  }
  return v;
}

}  // namespace tb::trace
