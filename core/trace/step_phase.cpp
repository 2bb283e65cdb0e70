#include "core/trace/step_phase.h"

#include <algorithm>
#include <cctype>
#include <limits>

namespace tb::trace {
namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Autograd's backward nodes: "ConvolutionBackward0", "ReluBackward1", and in older PyTorch
// releases (the ResNet-50 fixtures) "CudnnConvolutionBackward" with no number.
bool is_backward_node(std::string_view name) {
  std::size_t end = name.size();
  while (end > 0 && std::isdigit(static_cast<unsigned char>(name[end - 1]))) --end;
  constexpr std::string_view kSuffix = "Backward";
  return end >= kSuffix.size() && name.substr(end - kSuffix.size(), kSuffix.size()) == kSuffix;
}

bool is_data_loader_range(std::string_view name) {
  return starts_with(name, "enumerate(DataLoader)");
}

bool is_nccl(std::string_view name) {
  return starts_with(name, "nccl") || starts_with(name, "void nccl") ||
         starts_with(name, "ncclKernel") || starts_with(name, "ncclDevKernel");
}

// One entry of a host track's stack of open spans.
struct Open {
  std::int64_t end_ns = 0;
  std::int64_t since_ns = 0;  // the span's start: the latest-started range wins ties on queries
  Activity activity = Activity::none;
  Phase phase = Phase::none;
};

// A host track flattened: disjoint, by start. Unlike ActivitySegment it keeps the transparent
// (Activity::none) stretches too, because they still carry a phase for kernel lookups.
struct HostSegment {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::int64_t since_ns = 0;
  Activity activity = Activity::none;
  Phase phase = Phase::none;
};

// The segment of `segments` covering `time_ns`, or nullptr.
const HostSegment* segment_at(const std::vector<HostSegment>& segments, std::int64_t time_ns) {
  auto it = std::upper_bound(segments.begin(), segments.end(), time_ns,
                             [](std::int64_t t, const HostSegment& s) { return t < s.start_ns; });
  if (it == segments.begin()) return nullptr;
  --it;
  return time_ns < it->end_ns ? &*it : nullptr;
}

// Flattens one host track's spans (indices into trace.spans(), by start then longer first).
std::vector<HostSegment> flatten_host_track(const Trace& trace,
                                            const std::vector<std::size_t>& indices,
                                            const std::vector<StepSpan>& steps) {
  std::vector<HostSegment> out;
  std::vector<Open> stack;
  std::int64_t cursor = std::numeric_limits<std::int64_t>::min();
  auto emit = [&](std::int64_t end, const Open& open) {
    if (end > cursor) out.push_back({cursor, end, open.since_ns, open.activity, open.phase});
    cursor = std::max(cursor, end);
  };
  for (const std::size_t index : indices) {
    const Span& span = trace.spans()[index];
    // Close what ended before this span starts (children before their parents: stack order).
    while (!stack.empty() && stack.back().end_ns <= span.start_ns) {
      emit(stack.back().end_ns, stack.back());
      stack.pop_back();
    }
    if (!stack.empty()) emit(span.start_ns, stack.back());
    cursor = std::max(cursor, span.start_ns);

    const std::string_view name = trace.name(span.name);
    Activity own = activity_of(span.category, name);
    if (own != Activity::none && span.category != Category::step &&
        encloses_a_step(steps, span.start_ns, span.end_ns)) {
      own = Activity::none;
    }
    const Phase defined = phase_defined_by(span.category, name);
    const Open parent = stack.empty() ? Open{} : stack.back();
    stack.push_back({span.end_ns, span.start_ns, std::max(own, parent.activity),
                     defined != Phase::none ? defined : parent.phase});
  }
  while (!stack.empty()) {
    emit(stack.back().end_ns, stack.back());
    stack.pop_back();
  }
  return out;
}

struct FlowEnd {
  std::int64_t to_track = 0;
  std::int64_t to_ns = 0;
  std::int64_t from_track = 0;
  std::int64_t from_ns = 0;
};

}  // namespace

Phase phase_defined_by(Category category, std::string_view name) {
  switch (category) {
    case Category::data:
      return Phase::data;
    case Category::forward:
      return Phase::forward;
    case Category::backward:
      return Phase::backward;
    case Category::optimizer:
      return Phase::optimizer;
    case Category::cpu_op:
    case Category::annotation:
    case Category::other:
      break;
    default:
      return Phase::none;
  }
  if (is_data_loader_range(name)) return Phase::data;
  if (starts_with(name, "autograd::engine::evaluate_function") ||
      starts_with(name, "torch::autograd::AccumulateGrad") || is_backward_node(name)) {
    return Phase::backward;
  }
  if (starts_with(name, "Optimizer.step#") || starts_with(name, "Optimizer.zero_grad#")) {
    return Phase::optimizer;
  }
  if (equals_ignoring_case(name, "data")) return Phase::data;
  if (equals_ignoring_case(name, "forward")) return Phase::forward;
  if (equals_ignoring_case(name, "backward")) return Phase::backward;
  if (equals_ignoring_case(name, "optimizer")) return Phase::optimizer;
  return Phase::none;
}

Activity activity_of(Category category, std::string_view name) {
  switch (category) {
    case Category::step:
      return Activity::none;
    case Category::data:
      return Activity::data;
    case Category::forward:
    case Category::backward:
    case Category::optimizer:
      return Activity::cpu;
    case Category::cpu_op:
    case Category::annotation:
      return is_data_loader_range(name) ? Activity::data : Activity::cpu;
    case Category::eval:
    case Category::other:
      return is_data_loader_range(name) ? Activity::data : Activity::other;
    case Category::runtime:
    case Category::sync:
      return Activity::runtime;
    case Category::kernel:
      return is_nccl(name) ? Activity::communication : Activity::kernel;
    case Category::memcpy:
      return Activity::memcpy;
    case Category::memset:
      return Activity::memset;
    case Category::communication:
      return Activity::communication;
  }
  return Activity::other;
}

bool is_loader_track(const Track& track) {
  return track.kind == TrackKind::loader_worker || starts_with(track.name, "loader worker");
}

bool is_device_track(const Track& track) {
  return track.kind == TrackKind::gpu_stream;
}

bool marks_forward_explicitly(const Trace& trace) {
  return std::any_of(trace.spans().begin(), trace.spans().end(),
                     [](const Span& s) { return s.category == Category::forward; });
}

bool encloses_a_step(const std::vector<StepSpan>& steps, std::int64_t start_ns,
                     std::int64_t end_ns) {
  auto it = std::lower_bound(steps.begin(), steps.end(), start_ns,
                             [](const StepSpan& s, std::int64_t t) { return s.start_ns < t; });
  return it != steps.end() && it->end_ns <= end_ns &&
         (start_ns < it->start_ns || it->end_ns < end_ns);
}

std::vector<ActivitySegment> activity_segments(const Trace& trace,
                                               const std::vector<StepSpan>& steps,
                                               std::optional<std::int64_t> rank) {
  const auto& spans = trace.spans();
  const std::size_t track_count = trace.tracks().size();
  // Span indices per track, by start and longer first (parents before their children), so the
  // result does not depend on whether finish() was called.
  std::vector<std::vector<std::size_t>> by_track(track_count + 1);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const auto t = static_cast<std::size_t>(spans[i].track.value);
    if (t >= 1 && t <= track_count && (!rank || trace.tracks()[t - 1].rank == *rank)) {
      by_track[t].push_back(i);
    }
  }
  for (auto& indices : by_track) {
    std::stable_sort(indices.begin(), indices.end(), [&](std::size_t a, std::size_t b) {
      if (spans[a].start_ns != spans[b].start_ns) return spans[a].start_ns < spans[b].start_ns;
      return spans[a].end_ns > spans[b].end_ns;
    });
  }

  std::vector<std::vector<HostSegment>> host(track_count + 1);
  std::vector<std::size_t> host_tracks;
  // Whether a host track marks any phase: one that does not (CUPTI's "CUDA API (thread N)"
  // track holds runtime calls only) cannot say which phase a launch from it served.
  std::vector<bool> marks_phases(track_count + 1, false);
  for (std::size_t t = 1; t <= track_count; ++t) {
    const Track& track = trace.tracks()[t - 1];
    if (is_loader_track(track) || is_device_track(track)) continue;
    host[t] = flatten_host_track(trace, by_track[t], steps);
    host_tracks.push_back(t);
    marks_phases[t] = std::any_of(host[t].begin(), host[t].end(),
                                  [](const HostSegment& s) { return s.phase != Phase::none; });
  }

  std::vector<FlowEnd> flows;
  flows.reserve(trace.flows().size());
  for (const Flow& f : trace.flows()) {
    flows.push_back({f.to_track.value, f.to_ns, f.from_track.value, f.from_ns});
  }
  std::sort(flows.begin(), flows.end(), [](const FlowEnd& a, const FlowEnd& b) {
    return a.to_track != b.to_track ? a.to_track < b.to_track : a.to_ns < b.to_ns;
  });

  // The phase of the most recently started range open at `time_ns` on any host thread.
  auto host_phase_at = [&](std::int64_t time_ns) {
    const HostSegment* best = nullptr;
    for (const std::size_t t : host_tracks) {
      const HostSegment* at = segment_at(host[t], time_ns);
      if (at != nullptr && at->phase != Phase::none &&
          (best == nullptr || at->since_ns > best->since_ns)) {
        best = at;
      }
    }
    return best != nullptr ? best->phase : Phase::none;
  };
  // The phase of the host op that launched a device span: follow its flow back to the launching
  // thread. A launch from a track that marks no phase takes the phase open on the host threads
  // when it was made: the engine's phase span around CUPTI's runtime call (the runner opens it
  // with the external id that tags the launch). Without a flow, the phase open at the span's
  // start.
  auto launch_phase = [&](const Span& span) {
    const std::int64_t track = span.track.value;
    auto it = std::lower_bound(
        flows.begin(), flows.end(), std::pair{track, span.start_ns},
        [](const FlowEnd& f, const std::pair<std::int64_t, std::int64_t>& key) {
          return f.to_track != key.first ? f.to_track < key.first : f.to_ns < key.second;
        });
    if (it != flows.end() && it->to_track == track && it->to_ns <= span.end_ns &&
        it->from_track >= 1 && static_cast<std::size_t>(it->from_track) <= track_count) {
      const auto from = static_cast<std::size_t>(it->from_track);
      const HostSegment* at = segment_at(host[from], it->from_ns);
      if (at != nullptr) return marks_phases[from] ? at->phase : host_phase_at(it->from_ns);
    }
    return host_phase_at(span.start_ns);
  };

  std::vector<ActivitySegment> out;
  for (const std::size_t t : host_tracks) {
    for (const HostSegment& s : host[t]) {
      if (s.activity != Activity::none) {
        out.push_back({s.start_ns, s.end_ns, s.activity, s.phase, false});
      }
    }
  }
  for (std::size_t t = 1; t <= track_count; ++t) {
    if (!is_device_track(trace.tracks()[t - 1])) continue;
    for (const std::size_t index : by_track[t]) {
      const Span& span = spans[index];
      if (span.end_ns <= span.start_ns || !is_device_category(span.category)) continue;
      const Activity activity = activity_of(span.category, trace.name(span.name));
      out.push_back({span.start_ns, span.end_ns, activity, launch_phase(span), true});
    }
  }
  std::sort(out.begin(), out.end(), [](const ActivitySegment& a, const ActivitySegment& b) {
    return a.start_ns < b.start_ns;
  });
  return out;
}

}  // namespace tb::trace
