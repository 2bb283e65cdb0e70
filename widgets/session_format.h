// How the session tables write a session's fields: local times, durations, rates, accuracies.
// One place, so the Train tab's list and the session browser read the same.
#pragma once

#include <QDateTime>
#include <QString>

#include <string>

namespace tb::widgets {

// A stored ISO 8601 UTC time (with or without milliseconds); invalid when empty or unreadable.
QDateTime parseSessionTime(const std::string& iso);
// "2026-11-21 17:41:05" in local time; the stored text when it cannot be read.
QString formatSessionTime(const std::string& iso);
// "8.2 s", "42 s", "3 min 5 s", "2 h 14 min".
QString formatDuration(double seconds);
// 0.8957 -> "89.57 %".
QString formatAccuracy(double accuracy);
// 12345.6 -> "12,346" (the locale's grouping).
QString formatRate(double samplesPerSec);

}  // namespace tb::widgets
