// SpanIndex: a run's spans in an interval tree, for questions about a window of time: which spans
// overlap [t0, t1), and how the step time inside the window splits between the phases (data
// wait, forward, backward, optimizer). The answer to "why is my step slow" starts here; a
// timeline asks the same window queries as it scrolls.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ds/interval_tree.h"

namespace tb::trace {

// One span by text: a stored trace::Span with its track, name and category spelled out (as
// `sessions show` builds them from the session's stored trace).
struct SpanRecord {
  std::string track = "engine";  // "engine" (the training loop), "loader worker 1", ...
  std::string name;
  std::string category;  // "step", "data", "forward", "backward", "optimizer", "eval", "other"
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::int64_t step = 0;
};

// Time inside a window, each span clipped to it.
struct PhaseBreakdown {
  std::int64_t window_start_ns = 0, window_end_ns = 0;
  std::int64_t steps = 0;  // step spans overlapping the window
  double step_s = 0.0;     // time inside step spans
  double data_s = 0.0, forward_s = 0.0, backward_s = 0.0, optimizer_s = 0.0;
  double other_s = 0.0;  // step time no phase accounts for (>= 0)
  double eval_s = 0.0;   // evaluation, outside the steps
  // Data spans on other tracks (the loader workers' decoding), summed over the workers: it can
  // exceed the window when several decode at once. Not part of the step time.
  double loader_s = 0.0;
};

class SpanIndex {
 public:
  // Throws tb::Error naming the span when one ends before it starts.
  explicit SpanIndex(std::vector<SpanRecord> spans);

  std::size_t size() const { return spans_.size(); }
  const SpanRecord& span(std::size_t i) const { return spans_[i]; }
  // First start and last end of all spans (0, 0 when there are none).
  std::int64_t begin_ns() const { return begin_ns_; }
  std::int64_t end_ns() const { return end_ns_; }

  // Indices of the spans overlapping [t0, t1), by start. O(log n + k).
  std::vector<std::size_t> overlapping(std::int64_t t0, std::int64_t t1) const;
  // The phase breakdown of [t0, t1): the phases count spans on the training loop's track (the
  // step spans' track), loader_s the data spans on the others.
  PhaseBreakdown breakdown(std::int64_t t0, std::int64_t t1) const;
  // The window from the start of the n-th last step span to the end of the last one (the whole
  // run when n covers every step).
  std::pair<std::int64_t, std::int64_t> last_steps_window(std::int64_t n) const;

 private:
  std::vector<SpanRecord> spans_;
  ds::IntervalTree<std::int64_t, std::size_t> tree_;  // value: index into spans_
  std::vector<std::size_t> step_spans_;               // indices of "step" spans, by start
  std::string loop_track_ = "engine";                 // the track of the step spans
  std::int64_t begin_ns_ = 0, end_ns_ = 0;
};

}  // namespace tb::trace
