// The tooltip answer of a custom-painted widget's event(): shows `tip` at the help event's place,
// or hides any tooltip (and lets the event go on) when there is nothing to say there.
#pragma once

#include <QHelpEvent>
#include <QString>
#include <QToolTip>
#include <QWidget>

namespace tb::widgets {

inline bool answerToolTip(QHelpEvent* help, const QString& tip, QWidget* widget) {
  if (tip.isEmpty()) {
    QToolTip::hideText();
    help->ignore();
  } else {
    QToolTip::showText(help->globalPos(), tip, widget);
  }
  return true;
}

}  // namespace tb::widgets
