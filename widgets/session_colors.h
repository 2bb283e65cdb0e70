// The colour of each compared session, and how a session is named on screen: the same colour and
// label in the header strip, the curve legend, the table headers, the profile captions and the
// parallel-coordinates lines, so a session is recognised at a glance in every part of the view.
#pragma once

#include <QColor>
#include <QIcon>
#include <QString>
#include <QVariant>

#include <vector>

#include "core/compare/compare_data.h"

namespace tb::widgets {

// 20 colours (the compare view's most sessions), pairwise distinct and dark enough to read as a
// 1-px line on white. Indices past the last wrap around.
inline constexpr int kSessionColorCount = 20;
QColor sessionColor(int index);

// A small filled square in the session's colour, for table headers and combo boxes.
QIcon sessionChip(int index, int size = 12);

// What a compare widget shows of one session: its colour, a short name and a tooltip with the
// details (id, name, status, created, host).
struct SessionLabel {
  qint64 id = 0;
  QString name;     // "#12 mlp-adam"
  QString tooltip;  // several lines
  QColor color;
};

// Labels for sessions in comparison order: the i-th gets sessionColor(i).
std::vector<SessionLabel> sessionLabels(const std::vector<compare::SessionData>& sessions);

// The header of a table column that stands for a session, for the compare models' headerData:
// its name (display), details (tooltip), colour chip (decoration) and colour (kSessionColorRole).
inline constexpr int kSessionColorRole = Qt::UserRole + 100;
QVariant sessionHeaderData(const SessionLabel& label, int role);

}  // namespace tb::widgets
