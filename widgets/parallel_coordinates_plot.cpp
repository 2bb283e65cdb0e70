#include "widgets/parallel_coordinates_plot.h"

#include "widgets/tool_tip.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "widgets/compare_summary_model.h"
#include "widgets/curve_geometry.h"
#include "widgets/plot_export.h"
#include "widgets/tool_tip.h"

namespace tb::widgets {
namespace {

constexpr int kSideMarginPx = 76;  // tick labels left of the first axis, room right of the last
constexpr int kTopPx = 40;         // axis titles
constexpr int kBottomPx = 24;
constexpr int kMissingPx = 24;  // the "not set" slot under the axes, when a value is missing
constexpr double kHitPx = 5.0;  // how near a line the mouse must be to pick it

double distanceToSegment(const QPointF& p, const QPointF& a, const QPointF& b) {
  const QPointF ab = b - a;
  const double len2 = QPointF::dotProduct(ab, ab);
  const double t = len2 > 0.0 ? std::clamp(QPointF::dotProduct(p - a, ab) / len2, 0.0, 1.0) : 0.0;
  const QPointF d = p - (a + t * ab);
  return std::sqrt(QPointF::dotProduct(d, d));
}

}  // namespace

std::optional<double> parseNumber(const std::string& text) {
  double value = 0.0;
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || ptr != end || text.empty() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

ParallelAxis ParallelAxis::fromNumbers(std::string key,
                                       const std::vector<std::optional<double>>& values) {
  ParallelAxis axis;
  axis.key = std::move(key);
  axis.numeric = true;
  bool any = false;
  for (const auto& v : values) {
    if (!v || !std::isfinite(*v)) {
      axis.missing = true;
      continue;
    }
    axis.min = any ? std::min(axis.min, *v) : *v;
    axis.max = any ? std::max(axis.max, *v) : *v;
    any = true;
  }
  if (!any) {
    axis.min = 0.0;
    axis.max = 1.0;
  }
  // A learning rate of 1e-4 .. 1e-1 spread evenly, not three sessions piled at the bottom.
  axis.log = any && axis.min > 0.0 && axis.max / axis.min >= 100.0;
  return axis;
}

ParallelAxis ParallelAxis::fromValues(std::string key,
                                      const std::vector<std::optional<std::string>>& values) {
  std::vector<std::optional<double>> numbers;
  bool numeric = true;
  for (const auto& v : values) {
    if (!v) {
      numbers.emplace_back();
      continue;
    }
    const auto n = parseNumber(*v);
    if (!n) {
      numeric = false;
      break;
    }
    numbers.push_back(n);
  }
  if (numeric && std::any_of(numbers.begin(), numbers.end(), [](const auto& n) { return n; }))
    return fromNumbers(std::move(key), numbers);
  ParallelAxis axis;
  axis.key = std::move(key);
  for (const auto& v : values) {
    if (!v) {
      axis.missing = true;
    } else if (std::find(axis.categories.begin(), axis.categories.end(), *v) ==
               axis.categories.end()) {
      axis.categories.push_back(*v);  // in the order the sessions have them
    }
  }
  return axis;
}

std::optional<double> ParallelAxis::position(std::optional<double> value) const {
  if (!value || !std::isfinite(*value) || !numeric) return std::nullopt;
  if (log) {
    if (*value <= 0.0) return std::nullopt;
    return (std::log10(*value) - std::log10(min)) / (std::log10(max) - std::log10(min));
  }
  if (!(max > min)) return 0.5;
  return (*value - min) / (max - min);
}

std::optional<double> ParallelAxis::position(const std::optional<std::string>& value) const {
  if (!value) return std::nullopt;
  if (numeric) return position(parseNumber(*value));
  const auto it = std::find(categories.begin(), categories.end(), *value);
  if (it == categories.end()) return std::nullopt;
  if (categories.size() == 1) return 0.5;
  return static_cast<double>(it - categories.begin()) / static_cast<double>(categories.size() - 1);
}

std::vector<std::pair<double, double>> ParallelAxis::numericTicks(int maxTicks) const {
  std::vector<std::pair<double, double>> ticks;
  if (!numeric) return ticks;
  if (!(max > min)) {
    ticks.emplace_back(0.5, min);
    return ticks;
  }
  if (log) {
    for (const double e : logTicks(std::log10(min), std::log10(max), maxTicks)) {
      const double v = std::pow(10.0, e);
      ticks.emplace_back(*position(v), v);
    }
  } else {
    for (const double v : niceTicks(min, max, maxTicks)) ticks.emplace_back(*position(v), v);
  }
  return ticks;
}

ParallelCoordinatesPlot::ParallelCoordinatesPlot(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);
  setAttribute(Qt::WA_OpaquePaintEvent);
}

void ParallelCoordinatesPlot::setData(std::vector<SessionLabel> sessions,
                                      std::vector<compare::SettingsRow> settings,
                                      std::optional<compare::SummaryRow> outcome) {
  sessions_ = std::move(sessions);
  // A text setting with a different value in every one of three or more sessions (a name, a
  // path, a revision) only restates which line is which session: no axis for it.
  std::erase_if(settings, [n = sessions_.size()](const compare::SettingsRow& row) {
    if (n < 3 || row.values.size() != n) return false;
    std::vector<std::string> seen;
    for (const auto& v : row.values) {
      if (!v || parseNumber(*v) || std::find(seen.begin(), seen.end(), *v) != seen.end())
        return false;
      seen.push_back(*v);
    }
    return true;
  });
  hiddenAxes_ = std::max(0, static_cast<int>(settings.size()) - kMaxAxes);
  if (settings.size() > static_cast<std::size_t>(kMaxAxes)) settings.resize(kMaxAxes);
  settings_ = std::move(settings);
  outcome_ = std::move(outcome);
  axes_.clear();
  for (auto& row : settings_) {
    row.values.resize(sessions_.size());
    axes_.push_back(ParallelAxis::fromValues(row.key, row.values));
  }
  if (outcome_) {
    outcome_->values.resize(sessions_.size());
    axes_.push_back(ParallelAxis::fromNumbers(outcome_->label, outcome_->values));
  }
  hovered_ = -1;
  update();
}

double ParallelCoordinatesPlot::axisX(int axis) const {
  const int n = static_cast<int>(axes_.size());
  const double left = kSideMarginPx, right = width() - kSideMarginPx;
  if (n <= 1) return (left + right) / 2;
  return left + (right - left) * axis / (n - 1);
}

double ParallelCoordinatesPlot::axisTop() const {
  return kTopPx;
}

double ParallelCoordinatesPlot::axisBottom() const {
  const bool missing =
      std::any_of(axes_.begin(), axes_.end(), [](const ParallelAxis& a) { return a.missing; });
  return std::max(axisTop() + 20, height() - kBottomPx - (missing ? kMissingPx : 0.0));
}

double ParallelCoordinatesPlot::yOf(std::optional<double> position) const {
  // A missing value sits in the slot under the axes, where "not set" is written.
  if (!position) return axisBottom() + kMissingPx * 0.6;
  return axisBottom() - *position * (axisBottom() - axisTop());
}

QPolygonF ParallelCoordinatesPlot::sessionLine(int session) const {
  QPolygonF line;
  if (session < 0 || session >= sessionCount()) return line;
  const auto s = static_cast<std::size_t>(session);
  for (std::size_t a = 0; a < axes_.size(); ++a) {
    const std::optional<double> position = a < settings_.size()
                                               ? axes_[a].position(settings_[a].values[s])
                                               : axes_[a].position(outcome_->values[s]);
    line.append(QPointF(axisX(static_cast<int>(a)), yOf(position)));
  }
  return line;
}

QColor ParallelCoordinatesPlot::sessionLineColor(int session) const {
  return session >= 0 && session < sessionCount()
             ? sessions_[static_cast<std::size_t>(session)].color
             : QColor();
}

int ParallelCoordinatesPlot::sessionAt(const QPointF& pos) const {
  int best = -1;
  double nearest = kHitPx;
  for (int s = 0; s < sessionCount(); ++s) {
    const QPolygonF line = sessionLine(s);
    for (qsizetype i = 0; i + 1 < line.size(); ++i) {
      const double d = distanceToSegment(pos, line[i], line[i + 1]);
      if (d <= nearest) {
        nearest = d;
        best = s;
      }
    }
  }
  return best;
}

QString ParallelCoordinatesPlot::tickText(int axis, double value) const {
  if (outcome_ && axis == static_cast<int>(axes_.size()) - 1)
    return CompareSummaryModel::formatValue(*outcome_, value);
  return QString::number(value, 'g', 4);
}

void ParallelCoordinatesPlot::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  paintAll(painter, true);
}

void ParallelCoordinatesPlot::paintAll(QPainter& painter, bool marks) const {
  painter.fillRect(QRectF(0, 0, width(), height()), Qt::white);
  painter.setFont(font());
  const QFontMetrics fm = painter.fontMetrics();
  if (axes_.empty() || sessions_.empty()) {
    painter.setPen(QColor(0x70, 0x70, 0x70));
    painter.drawText(
        rect(), Qt::AlignCenter,
        sessions_.empty() ? tr("No sessions") : tr("The sessions' settings are all the same"));
    return;
  }
  const int n = static_cast<int>(axes_.size());
  const double spacing = n > 1 ? axisX(1) - axisX(0) : width() - 2.0 * kSideMarginPx;
  const double top = axisTop(), bottom = axisBottom();
  const bool missing =
      std::any_of(axes_.begin(), axes_.end(), [](const ParallelAxis& a) { return a.missing; });

  // Axes: the line, its title above, its ticks or categories on its left.
  QFont small = font();
  small.setPointSizeF(std::max(7.0, small.pointSizeF() - 1.0));
  const QFontMetrics sfm(small);
  for (int a = 0; a < n; ++a) {
    const ParallelAxis& axis = axes_[static_cast<std::size_t>(a)];
    const double x = std::round(axisX(a)) + 0.5;
    const bool outcome = outcome_ && a == n - 1;
    painter.setFont(font());
    painter.setPen(outcome ? QColor(0x1a, 0x4f, 0x9c) : QColor(0x20, 0x20, 0x20));
    const double titleW = std::max(40.0, spacing - 8);
    painter.drawText(
        QRectF(x - titleW / 2, 4, titleW, kTopPx - 14), Qt::AlignCenter,
        fm.elidedText(QString::fromStdString(axis.key), Qt::ElideMiddle, static_cast<int>(titleW)));
    painter.setPen(QPen(QColor(0x70, 0x70, 0x70), 1));
    painter.drawLine(QPointF(x, top), QPointF(x, bottom));
    painter.setFont(small);
    const double labelW = std::min(spacing * 0.45, 96.0);
    auto label = [&](double y, const QString& text) {
      painter.setPen(QColor(0x70, 0x70, 0x70));
      painter.drawLine(QPointF(x - 3, y), QPointF(x, y));
      painter.setPen(QColor(0x40, 0x40, 0x40));
      painter.drawText(QRectF(x - 5 - labelW, y - sfm.height() / 2.0, labelW, sfm.height()),
                       Qt::AlignRight | Qt::AlignVCenter,
                       sfm.elidedText(text, Qt::ElideMiddle, static_cast<int>(labelW)));
    };
    if (axis.numeric) {
      for (const auto& [position, value] : axis.numericTicks(5))
        label(yOf(position), tickText(a, value));
    } else {
      for (std::size_t c = 0; c < axis.categories.size(); ++c) {
        label(yOf(axis.position(std::optional<std::string>(axis.categories[c]))),
              QString::fromStdString(axis.categories[c]));
      }
    }
  }
  if (missing) {
    painter.setFont(small);
    painter.setPen(QColor(0x90, 0x90, 0x90));
    painter.drawText(
        QRectF(4, yOf(std::nullopt) - sfm.height() / 2.0, kSideMarginPx - 12, sfm.height()),
        Qt::AlignRight | Qt::AlignVCenter, tr("not set"));
  }

  // Lines: every session in its colour, the hovered one last and thicker, the others faded.
  painter.setRenderHint(QPainter::Antialiasing, true);
  const int hovered = marks ? hovered_ : -1;
  for (int s = sessionCount() - 1; s >= -1; --s) {
    const int session = s >= 0 ? s : hovered;
    if (session < 0 || (s >= 0 && s == hovered)) continue;
    QColor colour = sessionLineColor(session);
    if (hovered >= 0 && session != hovered) colour.setAlpha(70);
    const QPolygonF line = sessionLine(session);
    painter.setPen(QPen(colour, session == hovered ? 3.0 : 1.8));
    painter.drawPolyline(line);
    painter.setBrush(colour);
    for (const QPointF& p : line) painter.drawEllipse(p, 2.5, 2.5);
    painter.setBrush(Qt::NoBrush);
  }
  if (hovered >= 0) {
    painter.setFont(font());
    const QString name = sessions_[static_cast<std::size_t>(hovered)].name;
    const QRectF box(width() - fm.horizontalAdvance(name) - 18, height() - fm.height() - 6,
                     fm.horizontalAdvance(name) + 12, fm.height() + 2);
    painter.fillRect(box, QColor(255, 255, 255, 230));
    painter.setPen(sessionLineColor(hovered));
    painter.drawText(box, Qt::AlignCenter, name);
  }
  if (hiddenAxes_ > 0) {
    painter.setFont(small);
    painter.setPen(QColor(0x90, 0x90, 0x90));
    painter.drawText(QPointF(6, height() - 6),
                     tr("%n more differing setting(s) not shown", "", hiddenAxes_));
  }
}

void ParallelCoordinatesPlot::mouseMoveEvent(QMouseEvent* event) {
  const int session = sessionAt(event->position());
  if (session != hovered_) {
    hovered_ = session;
    update();
  }
  QWidget::mouseMoveEvent(event);
}

void ParallelCoordinatesPlot::leaveEvent(QEvent* event) {
  if (hovered_ >= 0) {
    hovered_ = -1;
    update();
  }
  QWidget::leaveEvent(event);
}

bool ParallelCoordinatesPlot::event(QEvent* event) {
  if (event->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(event);
    QString tip;
    const int session = sessionAt(help->pos());
    if (session >= 0) {
      tip = sessions_[static_cast<std::size_t>(session)].tooltip;
    } else if (help->pos().y() < kTopPx) {
      // An axis title: its whole key (titles are elided).
      for (int a = 0; a < static_cast<int>(axes_.size()); ++a) {
        if (std::abs(help->pos().x() - axisX(a)) < 40)
          tip = QString::fromStdString(axes_[static_cast<std::size_t>(a)].key);
      }
    }
    return answerToolTip(help, tip, this);
  }
  return QWidget::event(event);
}

QImage ParallelCoordinatesPlot::toImage(double scale) const {
  return renderPlot(size(), scale, [this](QPainter& painter) { paintAll(painter, false); });
}

bool ParallelCoordinatesPlot::exportPng(const QString& path, double scale) const {
  return toImage(scale).save(path, "PNG");
}

bool ParallelCoordinatesPlot::exportSvg(const QString& path) const {
  return savePlotSvg(path, size(), tr("Parallel coordinates"),
                     [this](QPainter& painter) { paintAll(painter, false); });
}

}  // namespace tb::widgets
