#include "core/trace/span_index.h"

#include <algorithm>

#include "core/util/error.h"

namespace tb::trace {

SpanIndex::SpanIndex(std::vector<SpanRecord> spans) : spans_(std::move(spans)) {
  for (std::size_t i = 0; i < spans_.size(); ++i) {
    const auto& s = spans_[i];
    if (s.end_ns < s.start_ns) {
      throw Error("span " + std::to_string(i) + " (" + s.name + ", step " + std::to_string(s.step) +
                  ") ends at " + std::to_string(s.end_ns) + " ns, before its start " +
                  std::to_string(s.start_ns));
    }
    tree_.insert(s.start_ns, s.end_ns, i);
    if (s.category == "step") step_spans_.push_back(i);
    begin_ns_ = i == 0 ? s.start_ns : std::min(begin_ns_, s.start_ns);
    end_ns_ = i == 0 ? s.end_ns : std::max(end_ns_, s.end_ns);
  }
  std::sort(step_spans_.begin(), step_spans_.end(),
            [&](std::size_t a, std::size_t b) { return spans_[a].start_ns < spans_[b].start_ns; });
  if (!step_spans_.empty()) loop_track_ = spans_[step_spans_.front()].track;
}

std::vector<std::size_t> SpanIndex::overlapping(std::int64_t t0, std::int64_t t1) const {
  std::vector<std::size_t> out;
  tree_.overlapping(t0, t1, [&](const auto& interval) { out.push_back(interval.value); });
  return out;
}

PhaseBreakdown SpanIndex::breakdown(std::int64_t t0, std::int64_t t1) const {
  PhaseBreakdown b;
  b.window_start_ns = t0;
  b.window_end_ns = t1;
  tree_.overlapping(t0, t1, [&](const auto& interval) {
    const SpanRecord& s = spans_[interval.value];
    const double seconds =
        static_cast<double>(std::min(s.end_ns, t1) - std::max(s.start_ns, t0)) * 1e-9;
    if (s.track != loop_track_) {
      if (s.category == "data") b.loader_s += seconds;
      return;
    }
    if (s.category == "step") {
      ++b.steps;
      b.step_s += seconds;
    } else if (s.category == "data") {
      b.data_s += seconds;
    } else if (s.category == "forward") {
      b.forward_s += seconds;
    } else if (s.category == "backward") {
      b.backward_s += seconds;
    } else if (s.category == "optimizer") {
      b.optimizer_s += seconds;
    } else if (s.category == "eval") {
      b.eval_s += seconds;
    }
  });
  b.other_s = std::max(0.0, b.step_s - b.data_s - b.forward_s - b.backward_s - b.optimizer_s);
  return b;
}

std::pair<std::int64_t, std::int64_t> SpanIndex::last_steps_window(std::int64_t n) const {
  if (step_spans_.empty() || n <= 0) return {end_ns_, end_ns_};
  const auto count = std::min<std::size_t>(static_cast<std::size_t>(n), step_spans_.size());
  const std::size_t first = step_spans_[step_spans_.size() - count];
  std::int64_t last_end = 0;
  for (std::size_t k = step_spans_.size() - count; k < step_spans_.size(); ++k) {
    last_end = std::max(last_end, spans_[step_spans_[k]].end_ns);
  }
  return {spans_[first].start_ns, last_end};
}

}  // namespace tb::trace
