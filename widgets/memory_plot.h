// MemoryPlot: memory allocated and reserved over a trace's time, one line a counter (the host's,
// each GPU's), the peak marked with its value, and a click asking the timeline to go there.
//
// Counters are found by name ("memory allocated (cpu)", "memory reserved (cuda:0)"), so engine
// sessions and imported PyTorch traces plot the same way. Values are drawn as steps (a counter
// holds its value until the next sample); counters with many samples are thinned to a bounded
// number of points per pixel column, keeping each column's minimum and maximum so no peak is lost.
#pragma once

#include <QChartView>
#include <QList>
#include <QString>

#include <cstdint>
#include <memory>
#include <optional>

#include "core/trace/model.h"

class QLineSeries;
class QScatterSeries;
class QValueAxis;

namespace tb::widgets {

class MemoryPlot : public QChartView {
  Q_OBJECT

 public:
  explicit MemoryPlot(QWidget* parent = nullptr);

  // A trace, or a newer snapshot of it while a run records.
  void setTrace(std::shared_ptr<const trace::Trace> trace);

  int seriesCount() const;  // plotted counters
  QLineSeries* series(int index) const;
  QScatterSeries* peakSeries() const { return peak_; }
  QValueAxis* timeAxis() const { return timeAxis_; }
  QValueAxis* bytesAxis() const { return bytesAxis_; }
  // The highest "memory allocated" value (of "memory reserved" when nothing is allocated), when
  // and on which counter; nullopt when the trace has no memory counters.
  std::optional<double> peakBytes() const { return peakBytes_; }
  std::int64_t peakTimeNs() const { return peakTimeNs_; }
  QString peakCounter() const { return peakCounter_; }
  // The trace time under widget point `pos`; nullopt outside the plot area.
  std::optional<std::int64_t> timeAt(const QPoint& pos) const;

  static constexpr int kMaxPointsPerSeries = 4000;
  // "1.50 GiB"
  static QString formatBytes(double bytes);

 signals:
  // The user clicked at this trace time.
  void timeRequested(qint64 ns);

 protected:
  void mousePressEvent(QMouseEvent* event) override;

 private:
  void rebuild();

  std::shared_ptr<const trace::Trace> trace_;
  QValueAxis* timeAxis_ = nullptr;
  QValueAxis* bytesAxis_ = nullptr;
  QScatterSeries* peak_ = nullptr;
  QList<QLineSeries*> lines_;
  double nsPerTimeUnit_ = 1e6;  // the time axis is in this many ns a unit (ms by default)
  std::optional<double> peakBytes_;
  std::int64_t peakTimeNs_ = 0;
  QString peakCounter_;
};

}  // namespace tb::widgets
