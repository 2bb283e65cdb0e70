// ParallelCoordinatesPlot: settings -> outcome across the compared sessions. One vertical axis a
// setting that differs between them (numeric when every value reads as a number, on a log scale
// when positive and spanning two decades or more, e.g. a learning rate; otherwise its values
// evenly spaced), then one for the chosen outcome (a summary row); one polyline a session, in
// its colour. Hovering a line brings it forward and names its session. Exports PNG and SVG.
#pragma once

#include <QPolygonF>
#include <QString>
#include <QWidget>

#include <optional>
#include <string>
#include <vector>

#include "core/compare/compare_summary.h"
#include "core/compare/settings_diff.h"
#include "widgets/session_colors.h"

namespace tb::widgets {

// One axis, Qt-free: where each value sits along it, from 0 (bottom) to 1 (top).
struct ParallelAxis {
  std::string key;  // the setting's dotted key, or the outcome's label
  bool numeric = false;
  bool log = false;  // numeric, positive, spanning >= 2 decades: log10 scale
  double min = 0.0, max = 1.0;
  std::vector<std::string> categories;  // a categorical axis's values, bottom to top
  bool missing = false;                 // some session has no value (drawn below the axis)

  // Numeric when every present value parses as a whole number text ("0.001", "1e-3", "64").
  static ParallelAxis fromValues(std::string key,
                                 const std::vector<std::optional<std::string>>& values);
  static ParallelAxis fromNumbers(std::string key,
                                  const std::vector<std::optional<double>>& values);

  // 0..1 along the axis; nullopt for a missing value or one the axis does not know.
  std::optional<double> position(const std::optional<std::string>& value) const;
  std::optional<double> position(std::optional<double> value) const;
  // Labelled places along the axis: (position, value) pairs.
  std::vector<std::pair<double, double>> numericTicks(int maxTicks) const;
};

// A setting's text as a number, when the whole text is one.
std::optional<double> parseNumber(const std::string& text);

class ParallelCoordinatesPlot : public QWidget {
  Q_OBJECT

 public:
  explicit ParallelCoordinatesPlot(QWidget* parent = nullptr);

  // `settings`: the differing rows (the first kMaxAxes become axes; a text setting with a value
  // of its own in each of three or more sessions, such as a name or a path, is left out: it only
  // restates which line is which); `outcome`: the last axis, formatted as the summary table
  // formats it (none: settings only).
  void setData(std::vector<SessionLabel> sessions, std::vector<compare::SettingsRow> settings,
               std::optional<compare::SummaryRow> outcome);

  const std::vector<ParallelAxis>& axes() const { return axes_; }
  bool hasOutcomeAxis() const { return outcome_.has_value(); }
  int hiddenAxisCount() const { return hiddenAxes_; }
  int sessionCount() const { return static_cast<int>(sessions_.size()); }
  // A session's line in widget pixels: one point an axis, left to right.
  QPolygonF sessionLine(int session) const;
  QColor sessionLineColor(int session) const;
  // The session whose line passes within a few pixels of `pos`; -1 for none.
  int sessionAt(const QPointF& pos) const;
  int hoveredSession() const { return hovered_; }
  // The x of axis `axis` and the plot's vertical extent (top = position 1, bottom = 0).
  double axisX(int axis) const;
  double axisTop() const;
  double axisBottom() const;

  QImage toImage(double scale = 2.0) const;
  bool exportPng(const QString& path, double scale = 2.0) const;
  bool exportSvg(const QString& path) const;

  QSize sizeHint() const override { return {820, 420}; }
  QSize minimumSizeHint() const override { return {360, 220}; }

  static constexpr int kMaxAxes = 12;  // settings axes; more would be unreadable

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void leaveEvent(QEvent* event) override;
  bool event(QEvent* event) override;

 private:
  void paintAll(QPainter& painter, bool marks) const;
  double yOf(std::optional<double> position) const;
  QString tickText(int axis, double value) const;

  std::vector<SessionLabel> sessions_;
  std::vector<compare::SettingsRow> settings_;  // the rows of the settings axes
  std::optional<compare::SummaryRow> outcome_;
  std::vector<ParallelAxis> axes_;  // settings axes, then the outcome's
  int hiddenAxes_ = 0;
  int hovered_ = -1;
};

}  // namespace tb::widgets
