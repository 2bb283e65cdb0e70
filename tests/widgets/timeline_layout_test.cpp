// timeline_layout.h: depth rows (nesting, partial overlaps, zero-length spans, bad tracks),
// visible windows and range totals against brute force on random nested traces, and folding:
// every visible span in exactly one box, folded boxes made of narrow spans only, a bounded box
// count however many spans, and the same list from one thread or several.
#include <QTest>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <set>

#include "core/trace/model.h"
#include "tests/support/trace_builder.h"
#include "widgets/timeline_layout.h"

using tb::testing::TraceBuilder;
using tb::trace::Category;
using tb::trace::Trace;
using tb::trace::TrackKind;
using namespace tb::widgets;

namespace {

// Nested spans: each track a run of top-level spans, each filled in part by children, to
// `depth` levels; durations spread over four orders of magnitude so folding has work to do.
void fill(TraceBuilder& builder, tb::trace::TrackId track, std::mt19937_64& rng, std::int64_t s,
          std::int64_t e, int depth, int max_depth, std::size_t& budget) {
  if (depth >= max_depth || budget == 0 || e - s < 4) return;
  std::uniform_int_distribution<int> children(0, 4);
  const int n = children(rng);
  std::int64_t at = s;
  for (int i = 0; i < n && budget > 0; ++i) {
    const std::int64_t room = e - at;
    if (room < 2) break;
    std::uniform_int_distribution<std::int64_t> gap(0, room / 4), len(0, room / 2);
    const std::int64_t cs = at + gap(rng);
    const std::int64_t ce = std::min(e, cs + len(rng));
    --budget;
    builder.span(track, depth % 2 ? "aten::mm" : "Kernel_Gemm",
                 static_cast<Category>((depth + i) % tb::trace::kCategoryCount), cs, ce);
    fill(builder, track, rng, cs, ce, depth + 1, max_depth, budget);
    at = ce;
  }
}

std::shared_ptr<const Trace> randomTrace(std::uint64_t seed, int tracks,
                                         std::size_t spans_per_track) {
  TraceBuilder builder;
  std::mt19937_64 rng(seed);
  for (int k = 0; k < tracks; ++k) {
    const auto track = builder.track("thread " + std::to_string(k), TrackKind::cpu_thread, "P");
    std::size_t budget = spans_per_track;
    std::int64_t at = 0;
    std::uniform_int_distribution<std::int64_t> top(0, 100000);
    while (budget > 0) {
      const std::int64_t s = at + top(rng) / 10;
      const std::int64_t e = s + std::max<std::int64_t>(top(rng) * (rng() % 8 == 0 ? 20 : 1), 0);
      --budget;
      builder.span(track, "ProfilerStep#1", Category::step, s, e);
      fill(builder, track, rng, s, e, 1, 5, budget);
      at = e;
    }
  }
  return builder.build_shared();
}

// Row invariants: sorted, no overlaps, so ends sorted too.
void verifyRows(const TimelineLayout& layout) {
  for (const auto& row : layout.rows()) {
    for (std::size_t i = 0; i + 1 < row.size(); ++i) {
      QVERIFY(row.start[i] <= row.start[i + 1]);
      QVERIFY2(row.end[i] <= row.start[i + 1], "spans of one row overlap");
    }
  }
}

}  // namespace

class TimelineLayoutTest : public QObject {
  Q_OBJECT

 private slots:
  void nestingGoesDeeper() {
    TraceBuilder builder;
    const auto a = builder.track("engine", TrackKind::cpu_thread, "trainbench");
    const auto b = builder.track("stream 7", TrackKind::gpu_stream, "GPU 0");
    builder.track("idle", TrackKind::cpu_thread, "trainbench");
    builder.span(a, "step", Category::step, 0, 100);
    builder.span(a, "forward", Category::forward, 0, 40);
    builder.span(a, "op", Category::cpu_op, 5, 10);
    builder.span(a, "backward", Category::backward, 40, 90);
    builder.span(a, "mark", Category::annotation, 50, 50);  // zero length, inside backward
    builder.span(a, "after mark", Category::cpu_op, 50, 60);
    builder.span(b, "k1", Category::kernel, 10, 20);
    builder.span(b, "k2", Category::kernel, 20, 30);  // touches k1: same row
    builder.span(b, "k3", Category::kernel, 25, 35);  // overlaps k2 partly: one row down
    builder.span(tb::trace::TrackId(9), "lost", Category::other, 0, 0);  // no such track
    const Trace t = builder.build();
    const TimelineLayout layout(t);
    verifyRows(layout);
    QCOMPARE(layout.spanCount(), std::size_t{9});
    QCOMPARE(layout.skippedSpans(), std::size_t{1});
    QCOMPARE(layout.beginNs(), std::int64_t{0});
    QCOMPARE(layout.endNs(), std::int64_t{100});
    // Tracks by process: engine, idle (both trainbench), then the GPU stream.
    QCOMPARE(layout.tracks().size(), std::size_t{3});
    QCOMPARE(layout.tracks()[0].track, std::size_t{0});
    QCOMPARE(layout.tracks()[1].track, std::size_t{2});
    QCOMPARE(layout.tracks()[2].track, std::size_t{1});
    QCOMPARE(layout.trackPosition(1), std::size_t{2});
    QCOMPARE(layout.tracks()[0].row_count, std::size_t{4});
    QCOMPARE(layout.tracks()[1].row_count, std::size_t{1});  // no spans: one empty row
    QCOMPARE(layout.rows()[layout.tracks()[1].first_row].size(), std::size_t{0});
    QCOMPARE(layout.tracks()[2].row_count, std::size_t{2});
    auto depthOf = [&](const char* name) {
      for (std::uint32_t i = 0; i < t.spans().size(); ++i) {
        if (t.name(t.spans()[i].name) != name) continue;
        const std::size_t row = layout.locate(i).first;
        return row < layout.rows().size() ? layout.rows()[row].depth : -1;
      }
      return -1;
    };
    QCOMPARE(depthOf("step"), 0);
    QCOMPARE(depthOf("forward"), 1);
    QCOMPARE(depthOf("op"), 2);
    QCOMPARE(depthOf("backward"), 1);
    // At one start the longer span comes first, so the zero-length mark sits inside "after mark".
    QCOMPARE(depthOf("after mark"), 2);
    QCOMPARE(depthOf("mark"), 3);
    QCOMPARE(depthOf("k1"), 0);
    QCOMPARE(depthOf("k2"), 0);
    QCOMPARE(depthOf("k3"), 1);
    QCOMPARE(depthOf("lost"), -1);  // locate gives no row
    // Hit tests: inside, in a gap (nearest within tolerance), the deepest enclosing span.
    const std::size_t engineDepth2 = layout.tracks()[0].first_row + 2;
    QCOMPARE(layout.spanAt(engineDepth2, 7.0).value(), std::size_t{0});
    QVERIFY(!layout.spanAt(engineDepth2, 30.0, 5.0).has_value());
    QCOMPARE(layout.spanAt(engineDepth2, 12.0, 3.0).value(), std::size_t{0});
    QCOMPARE(layout.spanAt(engineDepth2, 48.0, 3.0).value(), std::size_t{1});
    const auto deepest = layout.deepestAt(0, 7.0);
    QVERIFY(deepest.has_value());
    QCOMPARE(deepest->first, engineDepth2);
    QCOMPARE(layout.deepestAt(0, 95.0)->first, layout.tracks()[0].first_row);
    QVERIFY(!layout.deepestAt(0, 150.0).has_value());
    QVERIFY(!layout.deepestAt(17, 5.0).has_value());
  }

  void rowPlacement() {
    TraceBuilder builder;
    const auto a = builder.track("a");
    builder.track("empty");
    builder.span(a, "parent", Category::other, 0, 10);
    builder.span(a, "child", Category::other, 2, 5);
    const Trace t = builder.build();
    const TimelineLayout layout(t);
    const RowPlacement p = placeRows(layout, 18, 6);
    // Track a: rows at 0 and 18; the gap 36..42; the empty track's row at 42.
    QCOMPARE(p.tops, (std::vector<int>{0, 18, 42}));
    QCOMPARE(p.height, 66);
    QCOMPARE(p.rowAt(0).value(), std::size_t{0});
    QCOMPARE(p.rowAt(17).value(), std::size_t{0});
    QCOMPARE(p.rowAt(18).value(), std::size_t{1});
    QVERIFY(!p.rowAt(40).has_value());  // the gap
    QCOMPARE(p.rowAt(59).value(), std::size_t{2});
    QVERIFY(!p.rowAt(60).has_value());
    QVERIFY(!p.rowAt(-1).has_value());
    QCOMPARE(p.rowsBetween(0, 66), (std::pair<std::size_t, std::size_t>{0, 3}));
    QCOMPARE(p.rowsBetween(20, 30), (std::pair<std::size_t, std::size_t>{1, 2}));
    QCOMPARE(p.rowsBetween(37, 42), (std::pair<std::size_t, std::size_t>{2, 2}));  // only the gap
    QCOMPARE(p.rowsBetween(-100, 1), (std::pair<std::size_t, std::size_t>{0, 1}));
  }

  void topCategoriesByTime() {
    RangeTotals totals;
    totals.ns[static_cast<std::size_t>(Category::kernel)] = 50;
    totals.count[static_cast<std::size_t>(Category::kernel)] = 3;
    totals.ns[static_cast<std::size_t>(Category::step)] = 90;
    totals.count[static_cast<std::size_t>(Category::step)] = 1;
    totals.count[static_cast<std::size_t>(Category::annotation)] = 2;  // instants: no time
    QCOMPARE(topCategories(totals, 5),
             (std::vector<Category>{Category::step, Category::kernel, Category::annotation}));
    QCOMPARE(topCategories(totals, 1), (std::vector<Category>{Category::step}));
    QVERIFY(topCategories(RangeTotals{}, 3).empty());
  }

  void unsortedTraceIsSortedPerTrack() {
    TraceBuilder builder;  // never finish()ed, as a live snapshot taken mid-build might be
    const auto a = builder.track("engine");
    builder.span(a, "child", Category::other, 10, 20);
    builder.span(a, "parent", Category::other, 0, 50);
    builder.span(a, "first", Category::other, -30, -5);
    const TimelineLayout layout(builder.trace);
    verifyRows(layout);
    QCOMPARE(layout.rows().size(), std::size_t{2});
    QCOMPARE(layout.rows()[0].size(), std::size_t{2});
    QCOMPARE(layout.rows()[1].depth, 1);
    QCOMPARE(layout.beginNs(), std::int64_t{-30});
  }

  void visibleMatchesBruteForce() {
    const auto t = randomTrace(7, 4, 3000);
    const TimelineLayout layout(*t);
    verifyRows(layout);
    QCOMPARE(layout.spanCount(), t->spans().size());
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> at(-1e5, static_cast<double>(layout.endNs()) + 1e5);
    for (int trial = 0; trial < 300; ++trial) {
      double t0 = at(rng), t1 = at(rng);
      if (t1 < t0) std::swap(t0, t1);
      if (trial % 10 == 0) t1 = t0;  // an instant
      for (std::size_t r = 0; r < layout.rows().size(); ++r) {
        const auto& row = layout.rows()[r];
        const RowRange got = layout.visible(r, t0, t1);
        std::size_t first = row.size(), last = 0;
        for (std::size_t p = 0; p < row.size(); ++p) {
          if (static_cast<double>(row.end[p]) >= t0 && static_cast<double>(row.start[p]) <= t1) {
            first = std::min(first, p);
            last = p + 1;
          }
        }
        if (last == 0) {
          QCOMPARE(got.size(), std::size_t{0});
        } else {
          QCOMPARE(got.first, first);
          QCOMPARE(got.last, last);
        }
      }
    }
  }

  void foldingCoversEachVisibleSpanOnce() {
    const auto t = randomTrace(3, 3, 4000);
    const TimelineLayout layout(*t);
    const double extent = static_cast<double>(layout.endNs() - layout.beginNs());
    const double min_px = 3.0;
    FoldOptions options;
    options.min_px = min_px;
    for (const double fraction : {1.0, 0.3, 0.05, 0.01, 1e-3, 1e-5}) {
      for (const double offset : {0.0, 0.37, 0.9}) {
        const double t0 = layout.beginNs() + offset * extent * (1 - fraction);
        const auto g = TimelineGeometry::fit(t0, t0 + fraction * extent, 100.0, 800.0);
        const double fold_ns = min_px * g.ns_per_px;
        for (std::size_t r = 0; r < layout.rows().size(); ++r) {
          std::vector<DrawBox> boxes;
          foldRow(layout, r, g, nullptr, options, boxes);
          const auto& row = layout.rows()[r];
          const RowRange want = layout.visible(r, g.start_ns, g.end_ns());
          std::size_t next = want.first;
          for (const DrawBox& b : boxes) {
            QCOMPARE(b.row, static_cast<std::uint32_t>(r));
            QCOMPARE(static_cast<std::size_t>(b.first), next);  // contiguous, in order
            QVERIFY(b.count >= 1);
            next = b.first + b.count;
            QCOMPARE(b.start_ns, static_cast<double>(row.start[b.first]));
            QCOMPARE(b.end_ns, static_cast<double>(row.end[next - 1]));
            QCOMPARE(b.category, row.category[b.first]);
            if (b.folded()) {
              for (std::size_t p = b.first; p < next; ++p) {
                QVERIFY2(row.end[p] - row.start[p] < fold_ns, "a wide span was folded");
                if (p > b.first) QVERIFY(row.start[p] - row.end[p - 1] < fold_ns);
              }
            }
          }
          QCOMPARE(next, want.first + want.size());
          // However many spans: about one box per min_px at most (narrow and wide alternating).
          QVERIFY2(boxes.size() <= 2 * static_cast<std::size_t>(800.0 / min_px) + 4,
                   qPrintable(QString::number(boxes.size())));
        }
      }
    }
  }

  void manyTinySpansFoldToFewBoxes() {
    TraceBuilder builder;
    const auto a = builder.track("stream", TrackKind::gpu_stream, "GPU 0");
    for (std::int64_t i = 0; i < 200000; ++i)
      builder.span(a, "k", Category::kernel, i * 10, i * 10 + 3);
    builder.span(a, "tick", Category::kernel, 2000005, 2000005);  // zero length after the run
    const Trace t = builder.build();
    const TimelineLayout layout(t);
    const auto g = TimelineGeometry::fit(0, 2000010, 0, 1000);
    // Gaps of 7 ns against 6000 ns of folding reach: with no cap, the whole run (the tick with
    // it) is one box.
    FoldOptions uncapped;
    uncapped.max_fold_px = 1e9;
    std::vector<DrawBox> boxes;
    foldRow(layout, 0, g, nullptr, uncapped, boxes);
    QCOMPARE(boxes.size(), std::size_t{1});
    QCOMPARE(boxes[0].count, std::uint32_t{200001});
    // Capped at 12 px: a strip of boxes about 12 px wide, still covering every span once.
    boxes.clear();
    foldRow(layout, 0, g, nullptr, FoldOptions{}, boxes);
    QVERIFY2(boxes.size() >= 1000 / 15 && boxes.size() <= 1000 / 12 + 2,
             qPrintable(QString::number(boxes.size())));
    std::size_t covered = 0;
    for (std::size_t i = 0; i < boxes.size(); ++i) {
      covered += boxes[i].count;
      const double px = (boxes[i].end_ns - boxes[i].start_ns) / g.ns_per_px;
      if (i + 1 < boxes.size()) QVERIFY2(px >= 11.9 && px < 18.1, qPrintable(QString::number(px)));
    }
    QCOMPARE(covered, std::size_t{200001});
    // Zoomed in so a span is 30 px wide: every span its own box ([0, 100] ns meets 11 spans).
    boxes.clear();
    foldRow(layout, 0, TimelineGeometry{0.0, 0.1, 0.0, 1000.0}, nullptr, FoldOptions{}, boxes);
    QCOMPARE(boxes.size(), std::size_t{11});
    for (const auto& b : boxes) QCOMPARE(b.count, std::uint32_t{1});
    // A lone zero-length span is a box of its own (drawn as a 1-px tick).
    boxes.clear();
    foldRow(layout, 0, TimelineGeometry{2000004.0, 0.01, 0.0, 1000.0}, nullptr, FoldOptions{},
            boxes);
    QCOMPARE(boxes.size(), std::size_t{1});
    QCOMPARE(boxes[0].start_ns, boxes[0].end_ns);
  }

  void threadsGiveTheSameList() {
    const auto t = randomTrace(5, 8, 2000);
    const TimelineLayout layout(*t);
    const auto g = TimelineGeometry::fit(layout.beginNs(), layout.endNs() / 3.0, 0, 1500);
    const SearchMatches matches = findMatches(layout, *t, "mm");
    FoldOptions one;
    FoldOptions four;
    four.threads = 4;
    const DrawList a = buildDrawList(layout, g, 0, layout.rows().size(), &matches, one);
    const DrawList b = buildDrawList(layout, g, 0, layout.rows().size(), &matches, four);
    QCOMPARE(a.boxes.size(), b.boxes.size());
    QCOMPARE(a.visible_spans, b.visible_spans);
    for (std::size_t i = 0; i < a.boxes.size(); ++i) {
      QCOMPARE(a.boxes[i].row, b.boxes[i].row);
      QCOMPARE(a.boxes[i].first, b.boxes[i].first);
      QCOMPARE(a.boxes[i].count, b.boxes[i].count);
      QCOMPARE(a.boxes[i].match, b.boxes[i].match);
    }
    // Row bands: only the rows asked for, clamped to the layout.
    const DrawList part = buildDrawList(layout, g, 2, 5, nullptr, four);
    for (const auto& box : part.boxes) QVERIFY(box.row >= 2 && box.row < 5);
    const DrawList past = buildDrawList(layout, g, 3, 100000, nullptr, one);
    QCOMPARE(past.row_end, layout.rows().size());
  }

  void searchIsCaseInsensitive() {
    const auto t = randomTrace(9, 2, 500);
    const TimelineLayout layout(*t);
    const SearchMatches none = findMatches(layout, *t, "");
    QCOMPARE(none.count(), std::size_t{0});
    QVERIFY(!none.anyIn(0, 0, 100));
    const SearchMatches m = findMatches(layout, *t, "GEMM");
    std::size_t brute = 0;
    for (const auto& s : t->spans()) brute += t->name(s.name) == "Kernel_Gemm" ? 1 : 0;
    QVERIFY(brute > 0);
    QCOMPARE(m.count(), brute);
    for (std::size_t i = 0; i + 1 < m.spans.size(); ++i) {
      QVERIFY(t->spans()[m.spans[i]].start_ns <= t->spans()[m.spans[i + 1]].start_ns);
    }
    // anyIn agrees with a scan of each row.
    for (std::size_t r = 0; r < layout.rows().size(); ++r) {
      const auto& row = layout.rows()[r];
      for (std::size_t lo = 0; lo < row.size(); lo += 37) {
        const std::size_t hi = std::min(row.size(), lo + 5);
        bool any = false;
        for (std::size_t p = lo; p < hi; ++p)
          any = any || t->name(t->spans()[row.span[p]].name) == "Kernel_Gemm";
        QCOMPARE(m.anyIn(r, lo, hi), any);
      }
    }
  }

  void rangeTotalsMatchBruteForce() {
    const auto t = randomTrace(13, 3, 2000);
    const TimelineLayout layout(*t);
    std::mt19937_64 rng(17);
    std::uniform_int_distribution<std::int64_t> at(layout.beginNs(), layout.endNs());
    for (int trial = 0; trial < 50; ++trial) {
      std::int64_t t0 = at(rng), t1 = at(rng);
      const RangeTotals got = rangeTotals(layout, t1, t0);  // either order
      if (t1 < t0) std::swap(t0, t1);
      QCOMPARE(got.t0, t0);
      QCOMPARE(got.t1, t1);
      RangeTotals want;
      for (const auto& s : t->spans()) {
        if (s.end_ns < t0 || s.start_ns > t1) continue;
        const auto c = static_cast<std::size_t>(s.category);
        want.ns[c] += std::min(s.end_ns, t1) - std::max(s.start_ns, t0);
        ++want.count[c];
        ++want.spans;
      }
      QCOMPARE(got.spans, want.spans);
      QVERIFY(got.ns == want.ns);
      QVERIFY(got.count == want.count);
    }
  }
};

QTEST_APPLESS_MAIN(TimelineLayoutTest)
#include "timeline_layout_test.moc"
