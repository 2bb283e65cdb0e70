// What the widget tests share: times in milliseconds for hand-made traces, and screenshots
// saved where ctest says (TRAINBENCH_SCREENSHOTS), else under the working folder.
#pragma once

#include <QDir>
#include <QString>
#include <QTest>
#include <QWidget>

#include <cstdint>

namespace tb::testing {

inline constexpr std::int64_t kMs = 1'000'000;

// `value` milliseconds in nanoseconds (truncated, as the trace's integer times are).
inline std::int64_t ms(double value) {
  return static_cast<std::int64_t>(value * kMs);
}

// Grabs `widget` into <screenshots>/<name>, after letting pending paints land.
inline void saveScreenshot(QWidget& widget, const QString& name) {
  QString dir = qEnvironmentVariable("TRAINBENCH_SCREENSHOTS");
  if (dir.isEmpty()) dir = QDir::current().filePath(QStringLiteral("screenshots"));
  QVERIFY(QDir().mkpath(dir));
  QTest::qWait(50);
  const QString path = QDir(dir).filePath(name);
  QVERIFY2(widget.grab().save(path), qPrintable(path));
  qInfo("screenshot: %s", qPrintable(path));
}

}  // namespace tb::testing
