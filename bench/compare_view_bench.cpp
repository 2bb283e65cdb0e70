// The compare view on 20 sessions x 100,000 metric points, beside drawing the same curves with
// QtCharts, measured in the same run.
//
// A temporary session database is filled with 20 sessions (settings that differ in learning
// rate, optimizer and batch size; a summary each), each with 100,000 train_loss points and 100
// test_accuracy evaluations. Then:
//   open    what the user waits for after the click: compare::load_sessions from the store (its
//           worker threads), a new CompareView given the sessions (summary, settings diff,
//           curves), shown on the Curves tab, until the curve plot has painted once;
//   redraw  the curve plot's repaint: with the window unchanged (a hover, an expose), with the
//           hover readout, and after a zoom (the visible slice downsampled again, then painted)
//           at the whole run, 10% and 1% of it.
// Requirement: open <= 1 s; every redraw <= 16 ms (the worst frame, not the median).
//
// The peer, the naive way: the same curves as 20 QLineSeries of 100,000 points in a QChartView
// of the same size, antialiased and with the same 1-px cosmetic pen as ours: replace() each
// series and grab the first frame, then a frame (grab) with the window unchanged, and after a
// zoom (the axis range set). The peer draws only the raw curves (no smoothing, no second layer),
// which favours it.
//
// Wall clock and the frame's CPU time (all threads summed) are both printed: on a shared machine
// a frame can wait for a core, which the wall clock counts and the CPU time does not; a zoom
// frame spreads its work over threads, so its CPU time is more than its wall clock when cores
// are free. The requirement is on the wall clock; the CPU time says what one core would take.
//
// Measured on the 2-core build machine, quiet (load 1.2-1.5, the bench's own threads), three runs
// of 50 frames a row: open 417-435 ms (load_sessions 310-335 ms of it); redraw median 0.40-0.45
// ms (window unchanged), 1.2 ms (hover), 3.6-5.2 ms (zoomed: downsampled again and rendered), the
// worst zoom frame of the 450 8.2 ms; QtCharts: open 4.9-5.1 s, frames 0.43-1.33 s (200-1000x
// ours). Before the legend's width was cached and the noise bands filled front to back
// (column_coverage.h), zoom frames took 7-17 ms median and up to 20-25 ms at worst.
//
//   QT_QPA_PLATFORM=offscreen bench_compare_view [sessions=20] [points=100000] [frames=50]
//                                                [peer=1 (0: ours only)]
#include <QApplication>
#include <QChart>
#include <QChartView>
#include <QLineSeries>
#include <QMouseEvent>
#include <QValueAxis>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>
#include <nlohmann/json.hpp>

#include "bench/bench_clock.h"
#include "core/compare/compare_data.h"
#include "core/compare/settings_diff.h"
#include "core/store/session_store.h"
#include "widgets/compare_view.h"
#include "widgets/curve_plot.h"

namespace {

using tb::bench::Clock;
using tb::bench::cpu_ms;
using tb::bench::ms_since;
using tb::widgets::CompareView;
using tb::widgets::CurvePlot;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}
double median(const std::vector<double>& v) {
  return percentile(v, 0.5);
}
double worst(const std::vector<double>& v) {
  return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
}

struct Session {
  std::string optimizer;
  double lr;
  int batch;
  double seconds_per_step;
};

// The database: `sessions` runs of `points` training steps each, a noisy decaying loss every
// step and an evaluation every points/100 steps.
std::vector<tb::store::SessionId> fill_store(const std::filesystem::path& db, int sessions,
                                             int points) {
  tb::store::SessionStore store(db);
  std::vector<tb::store::SessionId> ids;
  const char* optimizers[] = {"sgd", "adam", "adamw", "rmsprop"};
  for (int s = 0; s < sessions; ++s) {
    const Session run{optimizers[s % 4], 1e-4 * std::pow(10.0, (s % 5) * 0.75), 32 << (s % 4),
                      0.004 + 0.001 * (s % 7)};
    const nlohmann::json project = {
        {"name", "sweep-" + std::to_string(s)},
        {"seed", 42},
        {"epochs", 10},
        {"data", {{"dataset", "fashion-mnist"}, {"batch_size", run.batch}}},
        {"model", {{"type", "mlp"}, {"hidden", {256, 128}}}},
        {"optimizer", {{"type", run.optimizer}, {"lr", run.lr}}}};
    const auto id = store.create_session({"sweep-" + std::to_string(s), project.dump(), "bench",
                                          "bench-host", static_cast<std::uint64_t>(s)});
    store.add_params(id, tb::compare::flatten_settings(project));
    std::mt19937 rng(static_cast<unsigned>(s) + 11);
    std::normal_distribution<double> noise(0.0, 0.05);
    const double rate = 3.0 + 0.15 * s;
    double accuracy = 0.0;
    {
      tb::store::MetricWriter writer(store, id, 16384);
      for (int i = 1; i <= points; ++i) {
        const double t = i * run.seconds_per_step;
        writer.add("train_loss", i, t,
                   0.2 + 2.1 * std::exp(-rate * i / points) + std::abs(noise(rng)));
        if (i % std::max(1, points / 100) == 0) {
          accuracy = 0.92 - 0.3 * std::exp(-rate * i / points) - 0.002 * (s % 9);
          writer.add("test_accuracy", i, t + 0.5, accuracy);
        }
      }
      writer.flush();
    }
    const double train = points * run.seconds_per_step;
    store.finish_session(id, "completed",
                         nlohmann::json{{"samples_per_s", run.batch / run.seconds_per_step},
                                        {"test_accuracy", accuracy},
                                        {"test_loss", 0.3},
                                        {"train_loss", 0.25},
                                        {"train_s", train},
                                        {"wall_s", train + 50.0},
                                        {"data_wait_s", train * 0.1},
                                        {"steps", points}}
                             .dump());
    ids.push_back(id);
  }
  return ids;
}

// Runs the event loop until `done`, at most `limit_ms`.
template <typename Done>
bool pump(QApplication& app, Done done, double limit_ms = 10000) {
  const auto t0 = Clock::now();
  while (!done()) {
    if (ms_since(t0) > limit_ms) return false;
    app.processEvents(QEventLoop::AllEvents, 5);
  }
  return true;
}

struct Frames {
  std::vector<double> wall, cpu;
  void add(double w, double c) {
    wall.push_back(w);
    cpu.push_back(c);
  }
};

template <typename Frame>
Frames measure(int frames, Frame frame) {
  Frames out;
  for (int i = 0; i < frames; ++i) {
    const double c0 = cpu_ms();
    const auto t0 = Clock::now();
    frame(i);
    out.add(ms_since(t0), cpu_ms() - c0);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line as it comes, also into a pipe
  const int sessions = argc > 1 ? std::atoi(argv[1]) : 20;
  const int points = argc > 2 ? std::atoi(argv[2]) : 100'000;
  const int frames = argc > 3 ? std::atoi(argv[3]) : 50;
  const bool peer = argc > 4 ? std::atoi(argv[4]) != 0 : true;
  const QSize size(1600, 900);

  const auto dir = std::filesystem::temp_directory_path() /
                   ("trainbench_compare_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto db = dir / "sessions.db";
  auto t0 = Clock::now();
  const auto ids = fill_store(db, sessions, points);
  std::printf(
      "compare_view_bench: %d sessions x %d train_loss points (+%d test_accuracy), view %dx%d "
      "offscreen, %u hardware threads\n",
      sessions, points, std::min(points, 100), size.width(), size.height(),
      std::thread::hardware_concurrency());
  std::printf("store filled in %.1f s (%.1f MB; not part of any figure)\n\n", ms_since(t0) / 1e3,
              static_cast<double>(std::filesystem::file_size(db)) / 1e6);

  // --- open: load + build + first paint, three times (the first also warms font caches) -----
  std::printf("open (from the click: load from the store, build the view, first paint)\n");
  std::printf("  %-5s %10s %10s %12s %10s | %10s\n", "run", "load ms", "build ms", "1st paint ms",
              "total ms", "CPU ms");
  std::vector<double> opens;
  std::unique_ptr<CompareView> view;
  for (int run = 0; run < 3; ++run) {
    view.reset();
    app.processEvents();
    const double c0 = cpu_ms();
    t0 = Clock::now();
    auto loaded = tb::compare::load_sessions(db, ids, {"train_loss", "test_accuracy"});
    const double load = ms_since(t0);
    auto t1 = Clock::now();
    view = std::make_unique<CompareView>();
    view->resize(size);
    view->setCurrentTab(CompareView::CurvesTab);
    view->setSessions(std::move(loaded));
    const double build = ms_since(t1);
    t1 = Clock::now();
    view->show();
    const bool painted = pump(app, [&] { return view->curvePlot()->paintCount() > 0; });
    const double paint = ms_since(t1);
    const double total = ms_since(t0);
    opens.push_back(total);
    std::printf("  %-5d %10.1f %10.1f %12.1f %10.1f | %10.1f%s\n", run + 1, load, build, paint,
                total, cpu_ms() - c0, painted ? "" : "  (never painted!)");
  }
  CurvePlot* plot = view->curvePlot();
  const QRectF area = plot->plotArea();
  std::size_t drawn = 0;
  for (int c = 0; c < plot->curveCount(); ++c) drawn += plot->drawnPointCount(c);
  std::printf("  curve plot %.0f px wide: %zu points drawn of %zu (LTTB, smoothing %.2f)\n\n",
              area.width(), drawn, static_cast<std::size_t>(sessions) * points, plot->smoothing());

  // --- redraw --------------------------------------------------------------------------------
  struct Row {
    const char* name;
    Frames ours;
    Frames naive;
  };
  std::vector<Row> rows;
  rows.push_back({"repaint, window unchanged", measure(frames, [&](int) { plot->repaint(); }), {}});
  rows.push_back({"hover readout (20 curves)",
                  measure(frames,
                          [&](int i) {
                            const QPointF pos(area.left() + area.width() * ((i * 37) % 100) / 100.0,
                                              area.center().y());
                            QMouseEvent move(QEvent::MouseMove, pos, plot->mapToGlobal(pos),
                                             Qt::NoButton, Qt::NoButton, Qt::NoModifier);
                            QApplication::sendEvent(plot, &move);
                            plot->repaint();
                          }),
                  {}});
  const tb::widgets::WorldRect full = plot->fullRange();
  struct Zoom {
    const char* name;
    double fraction;
  };
  const Zoom zooms[] = {{"zoom: whole run (re-layout)", 1.0},
                        {"zoom: 10% of the run", 0.1},
                        {"zoom: 1% of the run", 0.01}};
  for (const Zoom& z : zooms) {
    const double width = full.width() * z.fraction;
    rows.push_back({z.name,
                    measure(frames,
                            [&](int i) {
                              // A new window every frame, so every frame downsamples again.
                              const double slack = full.width() - width;
                              const double start = full.xmin + slack * ((i * 7) % 11) / 10.0;
                              if (z.fraction >= 1.0) {
                                plot->setXWindow(full.xmin + (i % 2) * 1e-9 * full.width(),
                                                 full.xmax);
                              } else {
                                plot->setXWindow(start, start + width);
                              }
                              plot->repaint();
                            }),
                    {}});
  }
  // The zoom frames' split: the layout alone (LTTB of the visible slices, the raw curves'
  // column extents, mapping to pixels), without rendering or painting.
  std::vector<double> layoutOnly;
  for (const Zoom& z : zooms) {
    const double width = full.width() * z.fraction;
    layoutOnly.push_back(
        median(measure(frames, [&](int i) {
                 const double start = full.xmin + (full.width() - width) * ((i * 7) % 11) / 10.0;
                 plot->setXWindow(z.fraction >= 1.0 ? full.xmin + (i % 2) * 1e-9 : start,
                                  z.fraction >= 1.0 ? full.xmax : start + width);
                 plot->window();  // lays out, paints nothing
               }).wall));
  }
  plot->resetZoom();
  const int layouts = plot->layoutCount();

  // --- the peer: QtCharts ----------------------------------------------------------------------
  double peerOpen = 0.0;
  if (peer) {
    const auto& data = view->sessions();
    QChartView chartView;
    chartView.resize(size);
    chartView.setRenderHint(QPainter::Antialiasing);
    auto* chart = new QChart;
    chart->setAnimationOptions(QChart::NoAnimation);
    chartView.setChart(chart);
    auto* xAxis = new QValueAxis(chart);
    auto* yAxis = new QValueAxis(chart);
    chart->addAxis(xAxis, Qt::AlignBottom);
    chart->addAxis(yAxis, Qt::AlignLeft);
    chartView.show();
    pump(app, [] { return true; });
    const double c0 = cpu_ms();
    t0 = Clock::now();
    double ymin = 1e300, ymax = -1e300, xmax = 0;
    for (std::size_t s = 0; s < data.size(); ++s) {
      const auto& m = data[s].metrics.at("train_loss");
      QList<QPointF> xy;
      xy.reserve(static_cast<qsizetype>(m.size()));
      for (std::size_t i = 0; i < m.size(); ++i) {
        xy.append(QPointF(static_cast<double>(m.step[i]), m.value[i]));
        ymin = std::min(ymin, m.value[i]);
        ymax = std::max(ymax, m.value[i]);
      }
      xmax = std::max(xmax, static_cast<double>(m.step.back()));
      auto* line = new QLineSeries(chart);
      // Our pen: 1 px, cosmetic (the raster engine's fast path), so the figures compare the
      // approaches rather than the pens.
      QPen pen(view->labels()[s].color, 1.0);
      pen.setCosmetic(true);
      line->setPen(pen);
      line->replace(xy);
      chart->addSeries(line);
      line->attachAxis(xAxis);
      line->attachAxis(yAxis);
    }
    xAxis->setRange(0, xmax);
    yAxis->setRange(ymin, ymax);
    chartView.grab();
    peerOpen = ms_since(t0);
    std::printf(
        "peer open (QtCharts: %zu QLineSeries replace() + first grab): %.1f ms wall, %.1f "
        "ms CPU\n\n",
        data.size(), peerOpen, cpu_ms() - c0);
    // grab(): a QGraphicsView repaint() can return without painting; grab() always renders.
    const int peerFrames = std::max(3, frames / 15);  // the peer is slow: fewer frames
    rows[0].naive = measure(peerFrames, [&](int) { chartView.grab(); });
    for (std::size_t z = 0; z < 3; ++z) {
      const double width = xmax * zooms[z].fraction;
      rows[2 + z].naive = measure(peerFrames, [&](int i) {
        const double start = (xmax - width) * ((i * 7) % 11) / 10.0;
        xAxis->setRange(start + (zooms[z].fraction >= 1.0 ? (i % 2) * 1e-6 : 0.0), start + width);
        chartView.grab();
      });
    }
  }

  std::printf("%-30s | %-28s | %-15s | %-20s\n", "redraw of the curves", "ours wall: med  p95  max",
              "CPU: med  max", "QtCharts: med  ratio");
  bool redrawPass = true;
  double worstCpu = 0.0;
  for (const Row& r : rows) {
    redrawPass = redrawPass && worst(r.ours.wall) <= 16.0;
    worstCpu = std::max(worstCpu, worst(r.ours.cpu));
    std::printf("%-30s | %8.2f %6.2f %7.2f   | %6.2f %6.2f  |", r.name, median(r.ours.wall),
                percentile(r.ours.wall, 0.95), worst(r.ours.wall), median(r.ours.cpu),
                worst(r.ours.cpu));
    if (r.naive.wall.empty()) {
      std::printf(" %8s %7s\n", "-", "-");
    } else {
      std::printf(" %8.1f %6.0fx\n", median(r.naive.wall),
                  median(r.naive.wall) / std::max(1e-6, median(r.ours.wall)));
    }
  }
  std::printf(
      "of the zoom frames, the layout alone (median ms): whole %.2f, 10%% %.2f, 1%% %.2f; "
      "%d render threads\n",
      layoutOnly[0], layoutOnly[1], layoutOnly[2], plot->renderThreads());
  const bool openPass = worst(opens) <= 1000.0;
  double load[1] = {0.0};
  std::printf(
      "\n(layouts redone during the zoom frames: %d)\n"
      "requirement open <= 1000 ms (worst of 3): %s (%.0f ms%s)\n"
      "requirement redraw <= 16 ms (worst frame of %d at each row, wall clock): %s  "
      "(worst CPU time of a frame, all threads summed: %.1f ms)\n"
      "[load average %.2f on %u hardware threads]\n",
      layouts, openPass ? "PASS" : "FAIL", worst(opens),
      peer ? (", QtCharts " + std::to_string(static_cast<int>(peerOpen)) + " ms").c_str() : "",
      frames, redrawPass ? "PASS" : "FAIL", worstCpu, getloadavg(load, 1) == 1 ? load[0] : -1.0,
      std::thread::hardware_concurrency());
  view.reset();
  std::filesystem::remove_all(dir);
  return openPass && redrawPass ? 0 : 1;
}
