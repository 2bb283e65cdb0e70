#include "core/trace/breakdown.h"

#include <optional>

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>

#include "core/trace/step_phase.h"

namespace tb::trace {
namespace {

constexpr std::array<const char*, kStepPartCount> kPartNames = {
    "data",   "forward", "backward", "optimizer", "communication",
    "memcpy", "runtime", "other",    "idle"};

// When the same class is active on several tracks at once with different phases (the main thread
// in a forward op while autograd's thread runs backward), the first phase of this list wins.
constexpr std::array<Phase, kPhaseCount> kPhaseOrder = {Phase::backward, Phase::optimizer,
                                                        Phase::forward, Phase::data, Phase::none};

StepPart part_of_phase(Phase phase, StepPart unphased) {
  switch (phase) {
    case Phase::data:
      return StepPart::data;
    case Phase::forward:
      return StepPart::forward;
    case Phase::backward:
      return StepPart::backward;
    case Phase::optimizer:
      return StepPart::optimizer;
    case Phase::none:
      break;
  }
  return unphased;
}

bool is_device_activity(Activity a) {
  return a == Activity::kernel || a == Activity::memcpy || a == Activity::memset ||
         a == Activity::communication;
}

// The step's number: the span's own, else the N of "ProfilerStep#N", else its position.
std::int64_t step_number(const Trace& trace, const Span& span, std::size_t position) {
  if (span.step != 0) return span.step;
  const std::string_view name = trace.name(span.name);
  const auto hash = name.rfind('#');
  if (hash != std::string_view::npos) {
    std::int64_t n = 0;
    const char* first = name.data() + hash + 1;
    const char* last = name.data() + name.size();
    const auto [ptr, ec] = std::from_chars(first, last, n);
    if (ec == std::errc() && ptr == last) return n;
  }
  return static_cast<std::int64_t>(position) + 1;
}

// Active segments counted by (activity, phase): the sweep's state.
class ActiveSet {
 public:
  void add(const ActivitySegment& s, int delta) {
    counts_[static_cast<std::size_t>(s.activity)][static_cast<std::size_t>(s.phase)] += delta;
    per_activity_[static_cast<std::size_t>(s.activity)] += delta;
    if (s.device && is_device_activity(s.activity)) device_busy_ += delta;
    if (!s.device && s.phase == Phase::data) in_data_range_ += delta;
  }
  bool device_busy() const { return device_busy_ > 0; }
  bool in_data_range() const { return in_data_range_ > 0; }

  // The part the current instant counts as.
  StepPart winner(StepPart unphased) const {
    for (int a = kActivityCount - 1; a > 0; --a) {
      if (per_activity_[static_cast<std::size_t>(a)] <= 0) continue;
      const auto activity = static_cast<Activity>(a);
      switch (activity) {
        case Activity::kernel:
        case Activity::cpu:
          return part_of_phase(top_phase(a), unphased);
        case Activity::memcpy:
        case Activity::memset:
          return StepPart::memcpy;
        case Activity::communication:
          return StepPart::communication;
        case Activity::runtime:
          return StepPart::runtime;
        case Activity::data:
          return StepPart::data;
        case Activity::other:
        case Activity::none:
          return StepPart::other;
      }
    }
    return StepPart::idle;
  }

 private:
  Phase top_phase(int activity) const {
    for (const Phase p : kPhaseOrder) {
      if (counts_[static_cast<std::size_t>(activity)][static_cast<std::size_t>(p)] > 0) return p;
    }
    return Phase::none;
  }

  std::array<std::array<std::int64_t, kPhaseCount>, kActivityCount> counts_{};
  std::array<std::int64_t, kActivityCount> per_activity_{};
  std::int64_t device_busy_ = 0;
  std::int64_t in_data_range_ = 0;
};

struct Event {
  std::int64_t time_ns = 0;
  // Order at one instant: steps close, segments close, segments open, steps open; the order
  // does not change any sum (nothing is accounted between events of one instant), it only keeps
  // the counts non-negative.
  int order = 0;
  std::size_t index = 0;  // into the segments or the steps
};

}  // namespace

const char* step_part_name(StepPart part) {
  const auto index = static_cast<std::size_t>(part);
  return index < kPartNames.size() ? kPartNames[index] : "other";
}

BreakdownReport step_breakdown(const Trace& trace) {
  BreakdownReport report;
  std::vector<const Span*> step_spans;
  for (const Span& span : trace.spans()) {
    if (span.category == Category::step && span.end_ns > span.start_ns) {
      step_spans.push_back(&span);
    }
  }
  // A session holding every rank of a parallel run: the lowest rank's steps and activity (the
  // ranks step together; their steps side by side would count each step once per rank).
  std::optional<std::int64_t> rank;
  for (const Span* span : step_spans) {
    const std::int64_t r = trace.track(span->track).rank;
    if (!rank) {
      rank = r;
    } else if (r != *rank) {
      rank = std::min(*rank, r);
      report.ranks_left_out = true;
    }
  }
  if (!report.ranks_left_out) {
    rank.reset();
  } else {
    std::erase_if(step_spans, [&](const Span* s) { return trace.track(s->track).rank != *rank; });
  }
  std::stable_sort(step_spans.begin(), step_spans.end(),
                   [](const Span* a, const Span* b) { return a->start_ns < b->start_ns; });
  for (const Track& track : trace.tracks()) report.device_tracks += is_device_track(track) ? 1 : 0;
  if (step_spans.empty()) return report;

  std::vector<StepSpan> steps;
  steps.reserve(step_spans.size());
  for (std::size_t i = 0; i < step_spans.size(); ++i) {
    const Span& span = *step_spans[i];
    steps.push_back({span.start_ns, span.end_ns});
    report.steps.push_back({step_number(trace, span, i), span.start_ns, span.end_ns, {}, 0});
  }
  const std::vector<ActivitySegment> segments = activity_segments(trace, steps, rank);
  const StepPart unphased = marks_forward_explicitly(trace) ? StepPart::other : StepPart::forward;

  // One sweep over every boundary of every segment and step: O(n log n) for the sort, then
  // constant work per boundary, whatever the number of steps.
  enum : int { kStepClose = 0, kSegmentClose = 1, kSegmentOpen = 2, kStepOpen = 3 };
  std::vector<Event> events;
  events.reserve(2 * (segments.size() + steps.size()));
  for (std::size_t i = 0; i < segments.size(); ++i) {
    events.push_back({segments[i].start_ns, kSegmentOpen, i});
    events.push_back({segments[i].end_ns, kSegmentClose, i});
  }
  for (std::size_t i = 0; i < steps.size(); ++i) {
    events.push_back({steps[i].start_ns, kStepOpen, i});
    events.push_back({steps[i].end_ns, kStepClose, i});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.time_ns != b.time_ns ? a.time_ns < b.time_ns : a.order < b.order;
  });

  ActiveSet active;
  std::vector<std::size_t> open_steps;  // usually one; overlapping step spans each get the time
  std::vector<std::int64_t> device_busy_ns(steps.size(), 0);
  std::int64_t previous = events.front().time_ns;
  for (const Event& e : events) {
    if (e.time_ns > previous && !open_steps.empty()) {
      const std::int64_t dt = e.time_ns - previous;
      const auto part = static_cast<std::size_t>(active.winner(unphased));
      const bool busy = active.device_busy();
      const bool data_range = active.in_data_range();
      for (const std::size_t s : open_steps) {
        report.steps[s].part_ns[part] += dt;
        if (busy) device_busy_ns[s] += dt;
        if (data_range) report.steps[s].data_range_ns += dt;
      }
    }
    previous = e.time_ns;
    switch (e.order) {
      case kSegmentOpen:
        active.add(segments[e.index], +1);
        break;
      case kSegmentClose:
        active.add(segments[e.index], -1);
        break;
      case kStepOpen:
        open_steps.push_back(e.index);
        break;
      case kStepClose:
        std::erase(open_steps, e.index);
        break;
      default:
        break;
    }
  }

  // The means leave out the first step when there are more than two: it carries warm-up
  // (allocator growth, cuDNN autotuning, the first batch's file opens).
  const std::size_t first = report.steps.size() > 2 ? 1 : 0;
  report.warmup_steps_skipped = static_cast<std::int64_t>(first);
  const double counted = static_cast<double>(report.steps.size() - first);
  std::int64_t step_total = 0, busy_total = 0;
  for (std::size_t i = first; i < report.steps.size(); ++i) {
    const auto& s = report.steps[i];
    step_total += s.end_ns - s.start_ns;
    busy_total += device_busy_ns[i];
    report.mean_data_range_ns += static_cast<double>(s.data_range_ns) / counted;
    for (int p = 0; p < kStepPartCount; ++p) {
      report.mean_part_ns[static_cast<std::size_t>(p)] +=
          static_cast<double>(s.part_ns[static_cast<std::size_t>(p)]) / counted;
    }
  }
  report.mean_step_ns = static_cast<double>(step_total) / counted;
  if (report.device_tracks > 0 && step_total > 0) {
    report.gpu_idle_share = 1.0 - static_cast<double>(busy_total) / static_cast<double>(step_total);
  }
  return report;
}

}  // namespace tb::trace
