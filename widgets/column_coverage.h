// ColumnCoverage: pixel columns filled front to back, each pixel written once.
//
// The compare view's curves are mostly bands of noise drawn as one run of pixels a column (see
// CurvePlot::Drawn). Twenty sessions' bands lie over one another, so painting them back to front
// writes their sum of pixels, down columns of a row-major image where every write is another
// cache line: most of a zoom frame's time. Painted front to back instead, each column remembers
// the rows already painted and a run behind them writes only the rows still bare: the frame
// writes about the bands' union. The result is the same image as back to front (tested).
#pragma once

#include <algorithm>
#include <vector>

namespace tb::widgets {

class ColumnCoverage {
 public:
  explicit ColumnCoverage(int columns) : runs_(static_cast<std::size_t>(std::max(0, columns))) {}

  int columns() const { return static_cast<int>(runs_.size()); }

  // Calls write(top, bottom) for each part of rows [top, bottom) of `column` that no earlier
  // paint covered, top to bottom, then marks all of [top, bottom) covered. A column outside
  // [0, columns()) or an empty range is ignored.
  template <typename Write>
  void paint(int column, int top, int bottom, Write&& write) {
    const auto index = static_cast<std::size_t>(column);  // a negative column: very large
    if (index >= runs_.size() || top >= bottom) return;
    std::vector<Run>& runs = runs_[index];
    // The first run that ends at or below `top`: runs that touch the new one merge with it.
    const auto first = std::lower_bound(runs.begin(), runs.end(), top,
                                        [](const Run& r, int row) { return r.bottom < row; });
    auto it = first;
    int cursor = top;  // rows above it are covered or written
    Run merged{top, bottom};
    for (; it != runs.end() && it->top <= bottom; ++it) {
      if (it->top > cursor) write(cursor, it->top);
      cursor = std::max(cursor, it->bottom);
      merged.top = std::min(merged.top, it->top);
      merged.bottom = std::max(merged.bottom, it->bottom);
    }
    if (cursor < bottom) write(cursor, bottom);
    if (first == it) {
      runs.insert(first, merged);
    } else {
      *first = merged;
      runs.erase(first + 1, it);
    }
  }

 private:
  struct Run {
    int top = 0, bottom = 0;  // rows [top, bottom)
  };
  std::vector<std::vector<Run>> runs_;  // per column: sorted, disjoint, never touching
};

}  // namespace tb::widgets
