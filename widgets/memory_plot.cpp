#include "widgets/memory_plot.h"

#include <QChart>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QMouseEvent>
#include <QPen>
#include <QScatterSeries>
#include <QValueAxis>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "widgets/plot_geometry.h"

namespace tb::widgets {
namespace {

constexpr std::string_view kAllocated = "memory allocated";
constexpr std::string_view kReserved = "memory reserved";

bool startsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// The device in "memory allocated (cuda:0)": the text in parentheses, or "" when there is none;
// an allocated and a reserved counter of one device share a colour.
std::string deviceOf(std::string_view name) {
  const auto open = name.find('(');
  const auto close = name.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return {};
  return std::string(name.substr(open + 1, close - open - 1));
}

// The samples to draw: all of them when few; otherwise, per time bucket, the first, lowest,
// highest and last sample in time order, so every peak and trough survives the thinning.
std::vector<trace::CounterPoint> thinned(const std::vector<trace::CounterPoint>& points,
                                         std::size_t max_points) {
  if (points.size() <= max_points) return points;
  const std::size_t buckets = std::max<std::size_t>(1, max_points / 4);
  const double t0 = static_cast<double>(points.front().time_ns);
  const double span = std::max(1.0, static_cast<double>(points.back().time_ns) - t0);
  std::vector<trace::CounterPoint> out;
  out.reserve(buckets * 4);
  std::size_t i = 0;
  while (i < points.size()) {
    const auto bucket = static_cast<std::size_t>(std::min<double>(
        static_cast<double>(buckets - 1),
        (static_cast<double>(points[i].time_ns) - t0) / span * static_cast<double>(buckets)));
    std::size_t j = i, lo = i, hi = i;
    while (j < points.size()) {
      const auto b = static_cast<std::size_t>(std::min<double>(
          static_cast<double>(buckets - 1),
          (static_cast<double>(points[j].time_ns) - t0) / span * static_cast<double>(buckets)));
      if (b != bucket) break;
      if (points[j].value < points[lo].value) lo = j;
      if (points[j].value > points[hi].value) hi = j;
      ++j;
    }
    std::array<std::size_t, 4> keep = {i, lo, hi, j - 1};
    std::sort(keep.begin(), keep.end());
    for (std::size_t k = 0; k < keep.size(); ++k) {
      if (k == 0 || keep[k] != keep[k - 1]) out.push_back(points[keep[k]]);
    }
    i = j;
  }
  return out;
}

}  // namespace

QString MemoryPlot::formatBytes(double bytes) {
  const double a = std::abs(bytes);
  if (a >= 1024.0 * 1024 * 1024)
    return QString::number(bytes / (1024.0 * 1024 * 1024), 'f', 2) + " GiB";
  if (a >= 1024.0 * 1024) return QString::number(bytes / (1024.0 * 1024), 'f', 1) + " MiB";
  if (a >= 1024.0) return QString::number(bytes / 1024.0, 'f', 1) + " KiB";
  return QString::number(bytes, 'f', 0) + " B";
}

MemoryPlot::MemoryPlot(QWidget* parent) : QChartView(parent) {
  auto* chart = new QChart;
  chart->setMargins(QMargins(4, 4, 4, 4));
  chart->legend()->setAlignment(Qt::AlignBottom);
  chart->setAnimationOptions(QChart::NoAnimation);  // live snapshots replace data often
  timeAxis_ = new QValueAxis(chart);
  timeAxis_->setTitleText(tr("Time (ms)"));
  timeAxis_->setLabelFormat("%.1f");
  bytesAxis_ = new QValueAxis(chart);
  bytesAxis_->setTitleText(tr("Memory (MiB)"));
  bytesAxis_->setLabelFormat("%.0f");
  chart->addAxis(timeAxis_, Qt::AlignBottom);
  chart->addAxis(bytesAxis_, Qt::AlignLeft);
  setChart(chart);
  setRenderHint(QPainter::Antialiasing);
  setMinimumSize(320, 200);
  setToolTip(tr("Click to show this time in the timeline"));
  rebuild();
}

void MemoryPlot::setTrace(std::shared_ptr<const trace::Trace> trace) {
  trace_ = std::move(trace);
  rebuild();
}

int MemoryPlot::seriesCount() const {
  return static_cast<int>(lines_.size());
}

QLineSeries* MemoryPlot::series(int index) const {
  return index >= 0 && index < lines_.size() ? lines_[index] : nullptr;
}

void MemoryPlot::rebuild() {
  QChart* c = chart();
  for (QLineSeries* line : lines_) {
    c->removeSeries(line);
    delete line;
  }
  lines_.clear();
  if (peak_ != nullptr) {
    c->removeSeries(peak_);
    delete peak_;
    peak_ = nullptr;
  }
  peakBytes_.reset();
  peakTimeNs_ = 0;
  peakCounter_.clear();

  std::vector<const trace::Counter*> counters;
  if (trace_) {
    for (const auto& counter : trace_->counters()) {
      if ((startsWith(counter.name, kAllocated) || startsWith(counter.name, kReserved)) &&
          !counter.points.empty()) {
        counters.push_back(&counter);
      }
    }
  }
  if (counters.empty()) {
    c->setTitle(trace_ ? tr("No memory counters in this trace") : QString());
    timeAxis_->setRange(0, 1);
    bytesAxis_->setRange(0, 1);
    return;
  }
  c->setTitle(QString());

  // Axis units from the data: ms or s along time, KiB / MiB / GiB up the side.
  std::int64_t end_ns = trace_->end_ns();
  double max_bytes = 0.0;
  bool any_allocated = false;
  for (const auto* counter : counters) {
    any_allocated = any_allocated || startsWith(counter->name, kAllocated);
    end_ns = std::max(end_ns, counter->points.back().time_ns);
    for (const auto& p : counter->points) max_bytes = std::max(max_bytes, p.value);
  }
  nsPerTimeUnit_ = end_ns >= 20'000'000'000 ? 1e9 : (end_ns >= 20'000'000 ? 1e6 : 1e3);
  timeAxis_->setTitleText(nsPerTimeUnit_ == 1e9
                              ? tr("Time (s)")
                              : (nsPerTimeUnit_ == 1e6 ? tr("Time (ms)") : tr("Time (µs)")));
  double bytes_per_unit = 1024.0 * 1024;
  QString unit = QStringLiteral("MiB");
  if (max_bytes >= 4.0 * 1024 * 1024 * 1024) {
    bytes_per_unit = 1024.0 * 1024 * 1024;
    unit = QStringLiteral("GiB");
  } else if (max_bytes < 4.0 * 1024 * 1024) {
    bytes_per_unit = 1024.0;
    unit = QStringLiteral("KiB");
  }
  bytesAxis_->setTitleText(tr("Memory (%1)").arg(unit));
  bytesAxis_->setLabelFormat(max_bytes / bytes_per_unit < 10 ? "%.1f" : "%.0f");

  static const std::array<QColor, 6> palette = {QColor(0x1f, 0x77, 0xb4), QColor(0xd6, 0x27, 0x28),
                                                QColor(0x2c, 0xa0, 0x2c), QColor(0x94, 0x67, 0xbd),
                                                QColor(0xff, 0x7f, 0x0e), QColor(0x8c, 0x56, 0x4b)};
  std::map<std::string, std::size_t> device_colour;
  for (const auto* counter : counters) {
    const bool allocated = startsWith(counter->name, kAllocated);
    const auto [it, added] =
        device_colour.try_emplace(deviceOf(counter->name), device_colour.size());
    auto* line = new QLineSeries(c);
    line->setName(QString::fromStdString(counter->name));
    // A device's reserved memory: its allocated colour, lighter and dashed.
    const QColor colour = palette[it->second % palette.size()];
    QPen pen(allocated ? colour : colour.lighter(150));
    pen.setWidthF(allocated ? 1.8 : 1.4);
    if (!allocated) pen.setStyle(Qt::DashLine);
    line->setPen(pen);
    // Steps: each value holds until the next sample, and the last one to the trace's end.
    const auto points = thinned(counter->points, kMaxPointsPerSeries / 2);
    QList<QPointF> xy;
    xy.reserve(static_cast<qsizetype>(points.size() * 2 + 1));
    for (std::size_t i = 0; i < points.size(); ++i) {
      const double x = static_cast<double>(points[i].time_ns) / nsPerTimeUnit_;
      if (i > 0) xy.append(QPointF(x, points[i - 1].value / bytes_per_unit));
      xy.append(QPointF(x, points[i].value / bytes_per_unit));
    }
    if (end_ns > points.back().time_ns) {
      xy.append(QPointF(static_cast<double>(end_ns) / nsPerTimeUnit_,
                        points.back().value / bytes_per_unit));
    }
    line->replace(xy);
    c->addSeries(line);
    line->attachAxis(timeAxis_);
    line->attachAxis(bytesAxis_);
    lines_.append(line);
    // The peak over every sample (not the thinned ones), of allocated memory when there is any.
    if (allocated == any_allocated) {
      for (const auto& p : counter->points) {
        if (!peakBytes_ || p.value > *peakBytes_) {
          peakBytes_ = p.value;
          peakTimeNs_ = p.time_ns;
          peakCounter_ = QString::fromStdString(counter->name);
        }
      }
    }
  }

  peak_ = new QScatterSeries(c);
  peak_->setName(tr("peak"));
  peak_->setMarkerSize(10);
  peak_->setColor(QColor(0x20, 0x20, 0x20));
  peak_->setBorderColor(Qt::white);
  peak_->append(static_cast<double>(peakTimeNs_) / nsPerTimeUnit_, *peakBytes_ / bytes_per_unit);
  peak_->setPointLabelsFormat(tr("peak %1").arg(formatBytes(*peakBytes_)));
  peak_->setPointLabelsVisible(true);
  peak_->setPointLabelsClipping(false);
  c->addSeries(peak_);
  peak_->attachAxis(timeAxis_);
  peak_->attachAxis(bytesAxis_);
  for (QLegendMarker* marker : c->legend()->markers(peak_)) marker->setVisible(false);

  timeAxis_->setRange(0.0, std::max(1e-9, static_cast<double>(end_ns) / nsPerTimeUnit_));
  // Head room above the peak for its label.
  bytesAxis_->setRange(0.0, niceCeil(max_bytes * 1.15 / bytes_per_unit));
}

std::optional<std::int64_t> MemoryPlot::timeAt(const QPoint& pos) const {
  if (lines_.isEmpty()) return std::nullopt;
  const QPointF scene = mapToScene(pos);
  const QPointF inChart = chart()->mapFromScene(scene);
  if (!chart()->plotArea().contains(inChart)) return std::nullopt;
  const QPointF value = chart()->mapToValue(inChart, lines_.front());
  return static_cast<std::int64_t>(std::llround(value.x() * nsPerTimeUnit_));
}

void MemoryPlot::mousePressEvent(QMouseEvent* event) {
  if (event->button() == Qt::LeftButton) {
    if (const auto t = timeAt(event->position().toPoint())) {
      emit timeRequested(*t);
      event->accept();
      return;
    }
  }
  QChartView::mousePressEvent(event);
}

}  // namespace tb::widgets
