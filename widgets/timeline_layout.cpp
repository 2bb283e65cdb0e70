#include "widgets/timeline_layout.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <numeric>
#include <thread>
#include <unordered_map>

namespace tb::widgets {
namespace {

constexpr std::uint32_t kNoRow = std::numeric_limits<std::uint32_t>::max();

// Comparisons of integer nanoseconds against a double window edge.
bool endBefore(std::int64_t end, double t) {
  return static_cast<double>(end) < t;
}
bool startAfter(double t, std::int64_t start) {
  return t < static_cast<double>(start);
}

// The first position in [from, last) whose end is >= reach. Galloping (1, 2, 4, ... ahead, then
// a binary search in the last stride) rather than one binary search over the whole rest of the
// row: the answer is usually a few spans ahead, and the probes stay in cache.
std::size_t gallop(const std::vector<std::int64_t>& ends, std::size_t from, std::size_t last,
                   double reach) {
  std::size_t lo = from;
  std::size_t hi = from;
  std::size_t stride = 1;
  while (hi < last && endBefore(ends[hi], reach)) {
    lo = hi + 1;
    hi = from + stride;
    stride *= 2;
  }
  hi = std::min(hi, last);
  return static_cast<std::size_t>(std::lower_bound(ends.begin() + static_cast<std::ptrdiff_t>(lo),
                                                   ends.begin() + static_cast<std::ptrdiff_t>(hi),
                                                   reach, endBefore) -
                                  ends.begin());
}

std::string lowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

TimelineLayout::TimelineLayout(const trace::Trace& trace) {
  const auto& tracks = trace.tracks();
  const auto& spans = trace.spans();
  const std::size_t track_count = tracks.size();

  // Display order: tracks of one process together (an imported trace lists a GPU's streams
  // between CPU threads), processes in the order they were first seen.
  std::vector<std::size_t> order(track_count);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::unordered_map<std::string_view, std::size_t> process_rank;
  for (const auto& track : tracks) process_rank.try_emplace(track.process, process_rank.size());
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return process_rank[tracks[a].process] < process_rank[tracks[b].process];
  });
  track_position_.assign(track_count, 0);
  for (std::size_t i = 0; i < track_count; ++i) track_position_[order[i]] = i;

  // Spans per track as one flat array (counting sort keeps the trace's by-start order).
  std::vector<std::size_t> offset(track_count + 1, 0);
  auto track_of = [&](const trace::Span& s) -> std::int64_t {
    const std::int64_t t = s.track.value - 1;
    if (t < 0 || t >= static_cast<std::int64_t>(track_count) || s.end_ns < s.start_ns) return -1;
    return t;
  };
  for (const auto& s : spans) {
    const std::int64_t t = track_of(s);
    if (t >= 0) ++offset[static_cast<std::size_t>(t) + 1];
  }
  std::partial_sum(offset.begin(), offset.end(), offset.begin());
  std::vector<std::uint32_t> by_track(offset.back());
  {
    std::vector<std::size_t> fill(offset.begin(), offset.end() - 1);
    for (std::size_t i = 0; i < spans.size(); ++i) {
      const std::int64_t t = track_of(spans[i]);
      if (t >= 0) by_track[fill[static_cast<std::size_t>(t)]++] = static_cast<std::uint32_t>(i);
    }
  }
  span_count_ = by_track.size();
  skipped_spans_ = spans.size() - span_count_;

  auto before = [&](std::uint32_t a, std::uint32_t b) {
    const auto& x = spans[a];
    const auto& y = spans[b];
    if (x.start_ns != y.start_ns) return x.start_ns < y.start_ns;
    return x.end_ns > y.end_ns;  // the enclosing span first
  };
  std::vector<std::vector<TimelineRow>> track_rows(track_count);
  std::vector<std::int64_t> open_ends;  // the stack of spans still open, by their end
  bool any = false;
  for (std::size_t t = 0; t < track_count; ++t) {
    auto first = by_track.begin() + static_cast<std::ptrdiff_t>(offset[t]);
    auto last = by_track.begin() + static_cast<std::ptrdiff_t>(offset[t + 1]);
    // A trace read before finish() (a live snapshot taken early) may be out of order.
    if (!std::is_sorted(first, last, before)) std::stable_sort(first, last, before);
    auto& rows = track_rows[t];
    open_ends.clear();
    for (auto it = first; it != last; ++it) {
      const trace::Span& s = spans[*it];
      while (!open_ends.empty() && open_ends.back() <= s.start_ns) open_ends.pop_back();
      const std::size_t depth = open_ends.size();
      open_ends.push_back(s.end_ns);
      if (rows.size() <= depth) {
        rows.emplace_back();
        rows.back().track = t;
        rows.back().depth = static_cast<int>(depth);
      }
      TimelineRow& row = rows[depth];
      row.start.push_back(s.start_ns);
      row.end.push_back(s.end_ns);
      row.span.push_back(*it);
      row.category.push_back(s.category);
      begin_ns_ = any ? std::min(begin_ns_, s.start_ns) : s.start_ns;
      end_ns_ = any ? std::max(end_ns_, s.end_ns) : s.end_ns;
      any = true;
    }
  }

  span_row_.assign(spans.size(), kNoRow);
  span_pos_.assign(spans.size(), 0);
  for (const std::size_t t : order) {
    TimelineTrackRows entry;
    entry.track = t;
    entry.first_row = rows_.size();
    auto& rows = track_rows[t];
    if (rows.empty()) {
      rows.emplace_back();
      rows.back().track = t;
    }
    entry.row_count = rows.size();
    for (auto& row : rows) {
      const auto row_index = static_cast<std::uint32_t>(rows_.size());
      for (std::size_t p = 0; p < row.size(); ++p) {
        span_row_[row.span[p]] = row_index;
        span_pos_[row.span[p]] = static_cast<std::uint32_t>(p);
      }
      rows_.push_back(std::move(row));
    }
    tracks_.push_back(entry);
  }
}

std::pair<std::size_t, std::size_t> TimelineLayout::locate(std::uint32_t span) const {
  if (span >= span_row_.size() || span_row_[span] == kNoRow) {
    return {std::numeric_limits<std::size_t>::max(), 0};
  }
  return {span_row_[span], span_pos_[span]};
}

RowRange TimelineLayout::visible(std::size_t row, double t0, double t1) const {
  const TimelineRow& r = rows_.at(row);
  const auto first = std::lower_bound(r.end.begin(), r.end.end(), t0, endBefore) - r.end.begin();
  const auto last =
      std::upper_bound(r.start.begin(), r.start.end(), t1, startAfter) - r.start.begin();
  return {static_cast<std::size_t>(first),
          static_cast<std::size_t>(std::max<std::ptrdiff_t>(first, last))};
}

std::optional<std::size_t> TimelineLayout::spanAt(std::size_t row, double t,
                                                  double tolerance_ns) const {
  const TimelineRow& r = rows_.at(row);
  if (r.size() == 0) return std::nullopt;
  // The last span starting at or before t encloses t, if any span does (no overlaps in a row).
  const auto after = std::upper_bound(r.start.begin(), r.start.end(), t, startAfter);
  const std::size_t next = static_cast<std::size_t>(after - r.start.begin());
  if (next > 0 && static_cast<double>(r.end[next - 1]) >= t) return next - 1;
  // Otherwise the nearer neighbour, if it is within the tolerance.
  double best = tolerance_ns;
  std::optional<std::size_t> found;
  if (next > 0 && t - static_cast<double>(r.end[next - 1]) <= best) {
    best = t - static_cast<double>(r.end[next - 1]);
    found = next - 1;
  }
  if (next < r.size() && static_cast<double>(r.start[next]) - t <= best) found = next;
  return found;
}

std::optional<std::pair<std::size_t, std::size_t>> TimelineLayout::deepestAt(
    std::size_t track_index, double t) const {
  if (track_index >= track_position_.size()) return std::nullopt;
  const TimelineTrackRows& entry = tracks_[track_position_[track_index]];
  for (std::size_t d = entry.row_count; d-- > 0;) {
    const std::size_t row = entry.first_row + d;
    if (const auto pos = spanAt(row, t, 0.0)) return std::make_pair(row, *pos);
  }
  return std::nullopt;
}

RowPlacement placeRows(const TimelineLayout& layout, int row_px, int gap_px) {
  RowPlacement placement;
  placement.row_px = std::max(row_px, 1);
  placement.tops.assign(layout.rows().size(), 0);
  int y = 0;
  for (const auto& track : layout.tracks()) {
    for (std::size_t d = 0; d < track.row_count; ++d) {
      placement.tops[track.first_row + d] = y + static_cast<int>(d) * placement.row_px;
    }
    y += static_cast<int>(track.row_count) * placement.row_px + gap_px;
  }
  placement.height = y;
  return placement;
}

std::pair<std::size_t, std::size_t> RowPlacement::rowsBetween(int y0, int y1) const {
  const auto first = std::upper_bound(tops.begin(), tops.end(), y0 - row_px);
  const auto last = std::lower_bound(first, tops.end(), y1);
  return {static_cast<std::size_t>(first - tops.begin()),
          static_cast<std::size_t>(last - tops.begin())};
}

std::optional<std::size_t> RowPlacement::rowAt(int y) const {
  const auto it = std::upper_bound(tops.begin(), tops.end(), y);
  if (it == tops.begin()) return std::nullopt;
  const auto row = static_cast<std::size_t>(it - tops.begin() - 1);
  if (y >= tops[row] + row_px) return std::nullopt;
  return row;
}

bool SearchMatches::anyIn(std::size_t row, std::size_t first, std::size_t last) const {
  if (row >= per_row.size() || first >= last) return false;
  const auto& positions = per_row[row];
  const auto it = std::lower_bound(positions.begin(), positions.end(), first);
  return it != positions.end() && *it < last;
}

SearchMatches findMatches(const TimelineLayout& layout, const trace::Trace& trace,
                          std::string_view text) {
  SearchMatches result;
  result.needle = lowerAscii(text);
  if (result.needle.empty()) return result;
  // Decide once per distinct name (thousands), not once per span (millions).
  const auto& names = trace.names();
  std::vector<char> name_matches(names.size() + 1, 0);
  for (std::size_t id = 1; id <= names.size(); ++id) {
    const std::string name = lowerAscii(names.name(trace::NameId(static_cast<std::int64_t>(id))));
    name_matches[id] = name.find(result.needle) != std::string::npos ? 1 : 0;
  }
  const auto& spans = trace.spans();
  result.per_row.resize(layout.rows().size());
  for (std::size_t r = 0; r < layout.rows().size(); ++r) {
    const TimelineRow& row = layout.rows()[r];
    for (std::size_t p = 0; p < row.size(); ++p) {
      const std::int64_t id = spans[row.span[p]].name.value;
      if (id > 0 && static_cast<std::size_t>(id) < name_matches.size() && name_matches[id]) {
        result.per_row[r].push_back(static_cast<std::uint32_t>(p));
        result.spans.push_back(row.span[p]);
      }
    }
  }
  std::sort(result.spans.begin(), result.spans.end(), [&](std::uint32_t a, std::uint32_t b) {
    if (spans[a].start_ns != spans[b].start_ns) return spans[a].start_ns < spans[b].start_ns;
    return a < b;
  });
  return result;
}

void foldRow(const TimelineLayout& layout, std::size_t row, const TimelineGeometry& geometry,
             const SearchMatches* matches, const FoldOptions& options, std::vector<DrawBox>& out) {
  const TimelineRow& r = layout.rows()[row];
  const RowRange range = layout.visible(row, geometry.start_ns, geometry.end_ns());
  const double fold_ns = std::max(options.min_px, 0.0) * geometry.ns_per_px;
  const double cap_ns = std::max(options.max_fold_px, options.min_px) * geometry.ns_per_px;
  const auto& S = r.start;
  const auto& E = r.end;
  auto box = [&](std::size_t first, std::size_t last, double start, double end) {
    DrawBox b;
    b.start_ns = start;
    b.end_ns = end;
    b.row = static_cast<std::uint32_t>(row);
    b.first = static_cast<std::uint32_t>(first);
    b.count = static_cast<std::uint32_t>(last - first);
    b.category = r.category[first];
    b.match = matches != nullptr && matches->anyIn(row, first, last);
    out.push_back(b);
  };
  std::size_t i = range.first;
  const std::size_t last = range.last;
  while (i < last) {
    const double start = static_cast<double>(S[i]);
    double group_end = static_cast<double>(E[i]);
    if (group_end - start >= fold_ns) {  // wide enough to stand alone
      box(i, i + 1, start, group_end);
      ++i;
      continue;
    }
    // A narrow span opens a group: it takes in every following span that ends within fold_ns
    // of the group's end (found by one galloping search on the sorted ends, however many there
    // are), then one more span if it is narrow and starts within fold_ns. Each round moves the
    // group's end on by at least fold_ns, so a group costs O(its width / min_px * log n).
    const std::size_t first = i++;
    while (i < last && group_end - start < cap_ns) {
      const std::size_t j = gallop(E, i, last, group_end + fold_ns);
      if (j > i) {
        group_end = std::max(group_end, static_cast<double>(E[j - 1]));
        i = j;
      }
      if (i >= last) break;
      const double s = static_cast<double>(S[i]);
      const double e = static_cast<double>(E[i]);
      if (s - group_end < fold_ns && e - s < fold_ns) {
        group_end = e;
        ++i;
      } else {
        break;
      }
    }
    box(first, i, start, group_end);
  }
}

DrawList buildDrawList(const TimelineLayout& layout, const TimelineGeometry& geometry,
                       std::size_t row_begin, std::size_t row_end, const SearchMatches* matches,
                       const FoldOptions& options) {
  DrawList list;
  list.geometry = geometry;
  row_end = std::min(row_end, layout.rows().size());
  row_begin = std::min(row_begin, row_end);
  list.row_begin = row_begin;
  list.row_end = row_end;
  for (std::size_t r = row_begin; r < row_end; ++r) {
    list.visible_spans += layout.visible(r, geometry.start_ns, geometry.end_ns()).size();
  }
  const std::size_t rows = row_end - row_begin;
  const std::size_t bands =
      std::clamp<std::size_t>(static_cast<std::size_t>(std::max(options.threads, 1)), 1, rows);
  if (bands <= 1) {
    for (std::size_t r = row_begin; r < row_end; ++r) {
      foldRow(layout, r, geometry, matches, options, list.boxes);
    }
    return list;
  }
  // Contiguous bands of rows, one per thread (the calling thread takes the first), joined in
  // row order so the list stays sorted by row.
  std::vector<std::vector<DrawBox>> parts(bands);
  auto work = [&](std::size_t band) {
    const std::size_t lo = row_begin + rows * band / bands;
    const std::size_t hi = row_begin + rows * (band + 1) / bands;
    for (std::size_t r = lo; r < hi; ++r) {
      foldRow(layout, r, geometry, matches, options, parts[band]);
    }
  };
  {
    std::vector<std::jthread> threads;
    threads.reserve(bands - 1);
    for (std::size_t band = 1; band < bands; ++band) threads.emplace_back(work, band);
    work(0);
  }  // joined here
  std::size_t total = 0;
  for (const auto& part : parts) total += part.size();
  list.boxes.reserve(total);
  for (const auto& part : parts) list.boxes.insert(list.boxes.end(), part.begin(), part.end());
  return list;
}

RangeTotals rangeTotals(const TimelineLayout& layout, std::int64_t t0, std::int64_t t1) {
  RangeTotals totals;
  if (t1 < t0) std::swap(t0, t1);
  totals.t0 = t0;
  totals.t1 = t1;
  for (std::size_t r = 0; r < layout.rows().size(); ++r) {
    const TimelineRow& row = layout.rows()[r];
    const RowRange range = layout.visible(r, static_cast<double>(t0), static_cast<double>(t1));
    for (std::size_t p = range.first; p < range.last; ++p) {
      const auto c = static_cast<std::size_t>(row.category[p]);
      if (c >= totals.ns.size()) continue;
      totals.ns[c] +=
          std::max<std::int64_t>(0, std::min(row.end[p], t1) - std::max(row.start[p], t0));
      ++totals.count[c];
      ++totals.spans;
    }
  }
  return totals;
}

std::vector<trace::Category> topCategories(const RangeTotals& totals, std::size_t n) {
  std::vector<trace::Category> order;
  for (int c = 0; c < trace::kCategoryCount; ++c) {
    if (totals.count[static_cast<std::size_t>(c)] > 0)
      order.push_back(static_cast<trace::Category>(c));
  }
  std::stable_sort(order.begin(), order.end(), [&](trace::Category a, trace::Category b) {
    return totals.ns[static_cast<std::size_t>(a)] > totals.ns[static_cast<std::size_t>(b)];
  });
  if (order.size() > n) order.resize(n);
  return order;
}

}  // namespace tb::widgets
