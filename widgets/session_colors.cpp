#include "widgets/session_colors.h"

#include <QPainter>
#include <QPixmap>

#include <array>

namespace tb::widgets {

QColor sessionColor(int index) {
  // The ten Tableau colours first (two or three sessions get the familiar ones), then ten picked
  // to be as far as possible, in CIELAB, from those and from each other, with a contrast of at
  // least 3:1 on white.
  static const std::array<QRgb, kSessionColorCount> palette = {
      0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e, 0x9467bd, 0x8c564b, 0xe377c2,
      0x17becf, 0x7f7f7f, 0xa6a600, 0x0000cc, 0xcc00cc, 0x000059, 0x00592c,
      0x59003b, 0x252525, 0xcc0066, 0x8c5d00, 0x0043cc, 0x808c46};
  const int i = ((index % kSessionColorCount) + kSessionColorCount) % kSessionColorCount;
  return QColor(palette[static_cast<std::size_t>(i)]);
}

QIcon sessionChip(int index, int size) {
  QPixmap pixmap(size, size);
  pixmap.fill(Qt::transparent);
  QPainter painter(&pixmap);
  const QColor colour = sessionColor(index);
  painter.fillRect(QRect(1, 1, size - 2, size - 2), colour);
  painter.setPen(colour.darker(140));
  painter.drawRect(QRect(1, 1, size - 3, size - 3));
  return QIcon(pixmap);
}

std::vector<SessionLabel> sessionLabels(const std::vector<compare::SessionData>& sessions) {
  std::vector<SessionLabel> labels;
  labels.reserve(sessions.size());
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    const store::SessionRecord& r = sessions[i].record;
    SessionLabel label;
    label.id = r.id.value;
    label.name = QStringLiteral("#%1 %2").arg(r.id.value).arg(QString::fromStdString(r.name));
    label.tooltip = QObject::tr("Session %1: %2\n%3, created %4\non %5, revision %6")
                        .arg(r.id.value)
                        .arg(QString::fromStdString(r.name), QString::fromStdString(r.status),
                             QString::fromStdString(r.created), QString::fromStdString(r.host),
                             QString::fromStdString(r.git_revision));
    label.color = sessionColor(static_cast<int>(i));
    labels.push_back(std::move(label));
  }
  return labels;
}

QVariant sessionHeaderData(const SessionLabel& label, int role) {
  switch (role) {
    case Qt::DisplayRole:
      return label.name;
    case Qt::ToolTipRole:
      return label.tooltip;
    case Qt::DecorationRole: {
      // The chip of the label's own colour (the label may not be the i-th of a palette).
      QPixmap pixmap(12, 12);
      pixmap.fill(label.color);
      return pixmap;
    }
    case kSessionColorRole:
      return label.color;
    default:
      return {};
  }
}

}  // namespace tb::widgets
