// SettingsDiffModel: the model contract (QAbstractItemModelTester) empty, filled and toggled; the
// key column then one column a session, headers in the sessions' colours with their details;
// differing rows first, bold and tinted, the cells that differ from the baseline tinted
// stronger, a missing setting shown as a dash; "differences only" leaves the differing rows.
#include <QAbstractItemModelTester>
#include <QBrush>
#include <QFont>
#include <QSignalSpy>
#include <QTest>

#include "core/compare/settings_diff.h"
#include "widgets/session_colors.h"
#include "widgets/settings_diff_model.h"

using tb::compare::FlatSettings;
using tb::widgets::SessionLabel;
using tb::widgets::SettingsDiffModel;

namespace {

std::vector<SessionLabel> labels(int n) {
  std::vector<SessionLabel> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({i + 1, QStringLiteral("#%1 run-%1").arg(i + 1),
                   QStringLiteral("Session %1: run-%1").arg(i + 1), tb::widgets::sessionColor(i)});
  }
  return out;
}

// Three sessions: lr and optimizer differ, batch size is the same, dropout only set in two.
std::vector<tb::compare::SettingsRow> rows() {
  const std::vector<FlatSettings> settings = {
      {{"data.batch_size", "64"},
       {"optimizer.lr", "0.001"},
       {"optimizer.type", "adam"},
       {"model.dropout", "0.1"}},
      {{"data.batch_size", "64"}, {"optimizer.lr", "0.01"}, {"optimizer.type", "adam"}},
      {{"data.batch_size", "64"},
       {"optimizer.lr", "0.001"},
       {"optimizer.type", "sgd"},
       {"model.dropout", "0.1"}}};
  return tb::compare::diff_settings(settings);
}

QString cell(const SettingsDiffModel& m, int row, int column, int role = Qt::DisplayRole) {
  return m.data(m.index(row, column), role).toString();
}

}  // namespace

class SettingsDiffModelTest : public QObject {
  Q_OBJECT

 private slots:
  void contractEmptyFilledAndToggled() {
    SettingsDiffModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(model.columnCount(), 1);
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    model.setSessions(labels(3), rows());
    QCOMPARE(model.rowCount(), 4);
    QCOMPARE(model.columnCount(), 4);
    QCOMPARE(model.rowCount(model.index(0, 0)), 0);
    model.setDifferencesOnly(true);
    model.setDifferencesOnly(true);  // no change, no reset
    model.setDifferencesOnly(false);
    QCOMPARE(resets.count(), 3);
    model.setSessions({}, {});
    QCOMPARE(model.rowCount(), 0);
  }

  void differingRowsFirstAndMarked() {
    SettingsDiffModel model;
    model.setSessions(labels(3), rows());
    QCOMPARE(model.differingCount(), 3);
    // The differing rows (in session 0's order), then the equal one.
    QCOMPARE(cell(model, 0, 0), QString("optimizer.lr"));
    QCOMPARE(cell(model, 1, 0), QString("optimizer.type"));
    QCOMPARE(cell(model, 2, 0), QString("model.dropout"));
    QCOMPARE(cell(model, 3, 0), QString("data.batch_size"));
    for (int r = 0; r < 3; ++r) {
      QVERIFY(model.data(model.index(r, 1), SettingsDiffModel::DiffersRole).toBool());
      QVERIFY(model.data(model.index(r, 0), Qt::FontRole).value<QFont>().bold());
      QVERIFY(model.data(model.index(r, 0), Qt::BackgroundRole).isValid());
    }
    QVERIFY(!model.data(model.index(3, 1), SettingsDiffModel::DiffersRole).toBool());
    QVERIFY(!model.data(model.index(3, 1), Qt::BackgroundRole).isValid());
    QVERIFY(!model.data(model.index(3, 1), Qt::FontRole).isValid());
    // Values by session column; the cells that differ from session 1 are tinted stronger.
    QCOMPARE(cell(model, 0, SettingsDiffModel::sessionColumn(0)), QString("0.001"));
    QCOMPARE(cell(model, 0, SettingsDiffModel::sessionColumn(1)), QString("0.01"));
    auto background = [&](int r, int c) {
      return model.data(model.index(r, c), Qt::BackgroundRole).value<QBrush>().color();
    };
    QCOMPARE(background(0, 2), SettingsDiffModel::differingCellColor());
    QCOMPARE(background(0, 3), SettingsDiffModel::differingRowColor());  // same as baseline
    QCOMPARE(background(0, 1), SettingsDiffModel::differingRowColor());
    // Not set: a dash, grey, and a tooltip that says so.
    QCOMPARE(cell(model, 2, SettingsDiffModel::sessionColumn(1)), QString("—"));
    QVERIFY(model.data(model.index(2, 2), Qt::ForegroundRole).isValid());
    QVERIFY(cell(model, 2, 2, Qt::ToolTipRole).contains("not set"));
    QCOMPARE(cell(model, 0, 2, Qt::ToolTipRole), QString("optimizer.lr = 0.01"));
    QCOMPARE(cell(model, 1, 3, SettingsDiffModel::KeyRole), QString("optimizer.type"));
  }

  void differencesOnly() {
    SettingsDiffModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setSessions(labels(3), rows());
    model.setDifferencesOnly(true);
    QVERIFY(model.differencesOnly());
    QCOMPARE(model.rowCount(), model.differingCount());
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(int(model.shownRows().size()), 3);
    QCOMPARE(int(model.allRows().size()), 4);
    for (int r = 0; r < model.rowCount(); ++r) QVERIFY(model.rowAt(r)->differs);
    QVERIFY(model.rowAt(3) == nullptr);
    // The toggle survives new sessions.
    model.setSessions(labels(2), tb::compare::diff_settings(
                                     {{{"a", "1"}, {"b", "2"}}, {{"a", "1"}, {"b", "3"}}}));
    QCOMPARE(model.rowCount(), 1);
    model.setDifferencesOnly(false);
    QCOMPARE(model.rowCount(), 2);
  }

  void headersCarryTheSessions() {
    SettingsDiffModel model;
    model.setSessions(labels(3), rows());
    QCOMPARE(model.headerData(0, Qt::Horizontal).toString(), QString("Setting"));
    QVERIFY(model.headerData(0, Qt::Horizontal, Qt::ToolTipRole).toString().contains("3"));
    for (int s = 0; s < 3; ++s) {
      const int c = SettingsDiffModel::sessionColumn(s);
      QCOMPARE(model.headerData(c, Qt::Horizontal).toString(),
               QStringLiteral("#%1 run-%1").arg(s + 1));
      QVERIFY(model.headerData(c, Qt::Horizontal, Qt::ToolTipRole).toString().contains("Session"));
      QCOMPARE(model.headerData(c, Qt::Horizontal, tb::widgets::kSessionColorRole).value<QColor>(),
               tb::widgets::sessionColor(s));
      QVERIFY(model.headerData(c, Qt::Horizontal, Qt::DecorationRole).isValid());
    }
  }

  void raggedRowsAreSafe() {
    // Rows with fewer values than sessions (made by hand, not by diff_settings) read as unset.
    SettingsDiffModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setSessions(labels(3), {{"x", {std::string("1")}, true}});
    QCOMPARE(cell(model, 0, 3), QString("—"));
  }
};

QTEST_MAIN(SettingsDiffModelTest)
#include "settings_diff_model_test.moc"
