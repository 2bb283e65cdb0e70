// The timeline's rows and what to draw in them, without Qt: spans placed into per-track depth
// rows, the spans visible in a time window found by binary search, sub-pixel spans folded into
// one box, search matches, and the totals of a selected range.
//
// Why rows: inside one row no two spans overlap and starts are sorted, so ends are sorted too,
// and the spans overlapping a window are one contiguous run found by two binary searches — no
// interval tree needed. Folding walks a row by binary search as well (skipping whole runs of
// spans that fall inside a few pixels), so a frame costs about O(rows * pixels * log n), not
// O(spans): that is what keeps a million-span trace at interactive frame times.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/trace/model.h"
#include "widgets/timeline_geometry.h"

namespace tb::widgets {

// One nesting depth of one track: its spans, which never overlap one another, by start.
struct TimelineRow {
  std::size_t track = 0;  // index into Trace::tracks()
  int depth = 0;          // 0: top-level spans
  // Struct of arrays: the binary searches touch only the start or end column.
  std::vector<std::int64_t> start;
  std::vector<std::int64_t> end;
  std::vector<std::uint32_t> span;        // index into Trace::spans()
  std::vector<trace::Category> category;  // of each span, for colouring without the trace

  std::size_t size() const { return start.size(); }
};

// A track's rows, in display order.
struct TimelineTrackRows {
  std::size_t track = 0;      // index into Trace::tracks()
  std::size_t first_row = 0;  // index into TimelineLayout::rows()
  std::size_t row_count = 1;  // >= 1: a track without spans still shows one (empty) row
};

// A [first, last) run of positions within one row.
struct RowRange {
  std::size_t first = 0;
  std::size_t last = 0;
  std::size_t size() const { return last - first; }
};

class TimelineLayout {
 public:
  TimelineLayout() = default;
  // Places every span of `trace` on a row of its track: depth is the number of spans on the same
  // track still open at its start (a stack, as nesting is drawn in every profiler). Spans that
  // only partly overlap go one row deeper too, so rows never hold overlapping spans. Spans naming
  // no known track are left out (and counted). Tracks are grouped by process, in first-seen order.
  explicit TimelineLayout(const trace::Trace& trace);

  const std::vector<TimelineRow>& rows() const { return rows_; }
  const std::vector<TimelineTrackRows>& tracks() const { return tracks_; }
  // The display position (index into tracks()) of trace track `track_index`.
  std::size_t trackPosition(std::size_t track_index) const {
    return track_position_.at(track_index);
  }
  std::size_t spanCount() const { return span_count_; }
  std::size_t skippedSpans() const { return skipped_spans_; }
  std::int64_t beginNs() const { return begin_ns_; }
  std::int64_t endNs() const { return end_ns_; }
  // For every span of the trace, its row (or SIZE_MAX when skipped) and position in that row.
  std::pair<std::size_t, std::size_t> locate(std::uint32_t span) const;

  // Positions in `row` of the spans overlapping [t0, t1] (ends included, so zero-length spans at
  // either edge count). O(log n).
  RowRange visible(std::size_t row, double t0, double t1) const;
  // The position in `row` of the span at time t, or the nearest one within tolerance_ns.
  std::optional<std::size_t> spanAt(std::size_t row, double t, double tolerance_ns = 0.0) const;
  // The deepest row of trace track `track_index` with a span enclosing t, and that span's
  // position in it.
  std::optional<std::pair<std::size_t, std::size_t>> deepestAt(std::size_t track_index,
                                                               double t) const;

 private:
  std::vector<TimelineRow> rows_;
  std::vector<TimelineTrackRows> tracks_;
  std::vector<std::size_t> track_position_;  // trace track index -> index into tracks_
  std::vector<std::uint32_t> span_row_;      // per trace span; UINT32_MAX: skipped
  std::vector<std::uint32_t> span_pos_;      // per trace span: position in its row
  std::size_t span_count_ = 0;
  std::size_t skipped_spans_ = 0;
  std::int64_t begin_ns_ = 0;
  std::int64_t end_ns_ = 0;
};

// Where rows sit vertically: a track's rows stacked row_px apart, gap_px between tracks.
struct RowPlacement {
  std::vector<int> tops;  // content y of each row's top
  int height = 0;         // of all tracks, gaps included
  int row_px = 1;

  // The rows meeting content y range [y0, y1), as [first, last) row indices.
  std::pair<std::size_t, std::size_t> rowsBetween(int y0, int y1) const;
  // The row at content y; nullopt in the gap between two tracks or past the end.
  std::optional<std::size_t> rowAt(int y) const;
};
RowPlacement placeRows(const TimelineLayout& layout, int row_px, int gap_px);

// Spans whose name contains a text (ASCII case-insensitive).
struct SearchMatches {
  std::string needle;                               // lower-cased; empty: no search
  std::vector<std::vector<std::uint32_t>> per_row;  // positions in each row, sorted
  std::vector<std::uint32_t> spans;                 // matching trace span indices, by start

  std::size_t count() const { return spans.size(); }
  // Whether positions [first, last) of `row` hold a match. O(log m).
  bool anyIn(std::size_t row, std::size_t first, std::size_t last) const;
};
SearchMatches findMatches(const TimelineLayout& layout, const trace::Trace& trace,
                          std::string_view text);

// One box to paint. Times, not pixels: a list built for one window still paints correctly
// (stretched) while the list for a new window is being built.
struct DrawBox {
  double start_ns = 0.0;
  double end_ns = 0.0;
  std::uint32_t row = 0;    // index into TimelineLayout::rows()
  std::uint32_t first = 0;  // position in the row of the first span it covers
  std::uint32_t count = 1;  // spans it covers; > 1: folded
  trace::Category category = trace::Category::other;  // of its first span
  bool match = false;                                 // covers a search match
  bool folded() const { return count > 1; }
};

struct DrawList {
  std::vector<DrawBox> boxes;              // by row, then by time
  TimelineGeometry geometry;               // the window it was built for
  std::size_t row_begin = 0, row_end = 0;  // the rows it covers
  std::size_t visible_spans = 0;           // spans overlapping the window in those rows
};

struct FoldOptions {
  double min_px = 3.0;  // spans narrower than this fold with narrow neighbours closer than this
  // A folded box ends once it is this wide, so a long run of tiny spans shows as a strip of boxes
  // each coloured by its first span (the mix of categories stays visible) rather than one bar.
  double max_fold_px = 12.0;
  int threads = 1;  // rows are split over this many threads (1: the calling thread)
};

// The boxes of one row in the geometry's window, appended to `out`: spans at least min_px wide
// each get a box; a run of narrower spans separated by gaps under min_px becomes one box (or a
// few, max_fold_px wide).
void foldRow(const TimelineLayout& layout, std::size_t row, const TimelineGeometry& geometry,
             const SearchMatches* matches, const FoldOptions& options, std::vector<DrawBox>& out);
// foldRow over rows [row_begin, row_end), in parallel bands when options.threads > 1.
DrawList buildDrawList(const TimelineLayout& layout, const TimelineGeometry& geometry,
                       std::size_t row_begin, std::size_t row_end, const SearchMatches* matches,
                       const FoldOptions& options = {});

// What a selected range holds: per category, the spans overlapping [t0, t1] and their time
// clipped to it. Nested spans each count (a step and the forward inside it), as a profiler's
// selection summary does.
struct RangeTotals {
  std::int64_t t0 = 0, t1 = 0;
  std::array<std::int64_t, trace::kCategoryCount> ns{};
  std::array<std::int64_t, trace::kCategoryCount> count{};
  std::int64_t spans = 0;
};
RangeTotals rangeTotals(const TimelineLayout& layout, std::int64_t t0, std::int64_t t1);
// The categories with the most time in `totals`, most first, at most `n`, none without spans.
std::vector<trace::Category> topCategories(const RangeTotals& totals, std::size_t n);

}  // namespace tb::widgets
