#include "widgets/session_format.h"

#include <QLocale>

namespace tb::widgets {

QDateTime parseSessionTime(const std::string& iso) {
  if (iso.empty()) return {};
  const QString text = QString::fromStdString(iso);
  QDateTime time = QDateTime::fromString(text, Qt::ISODateWithMs);
  if (!time.isValid()) time = QDateTime::fromString(text, Qt::ISODate);
  return time;
}

QString formatSessionTime(const std::string& iso) {
  const QDateTime time = parseSessionTime(iso);
  if (!time.isValid()) return QString::fromStdString(iso);
  return time.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
}

QString formatDuration(double seconds) {
  const auto total = static_cast<qint64>(seconds + 0.5);
  if (seconds < 60.0) return QStringLiteral("%1 s").arg(seconds, 0, 'f', seconds < 10.0 ? 1 : 0);
  if (total < 3600) return QStringLiteral("%1 min %2 s").arg(total / 60).arg(total % 60);
  return QStringLiteral("%1 h %2 min").arg(total / 3600).arg((total % 3600) / 60);
}

QString formatAccuracy(double accuracy) {
  return QStringLiteral("%1 %").arg(accuracy * 100.0, 0, 'f', 2);
}

QString formatRate(double samplesPerSec) {
  return QLocale().toString(samplesPerSec, 'f', 0);
}

}  // namespace tb::widgets
