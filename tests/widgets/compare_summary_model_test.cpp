// CompareSummaryModel: the model contract (QAbstractItemModelTester); the rows of
// compare::summarize over three sessions, values formatted with their units, the best value of
// each row starred, bold and tinted in the right session's column (none on a tie), unknown values
// as a dash, session headers in the sessions' colours.
#include <QAbstractItemModelTester>
#include <QBrush>
#include <QFont>
#include <QTest>

#include "core/compare/compare_summary.h"
#include "widgets/compare_summary_model.h"
#include "widgets/session_colors.h"

using tb::compare::SessionData;
using tb::compare::SummaryRow;
using tb::widgets::CompareSummaryModel;

namespace {

// Session 1 is fastest, session 2 reaches 85% first and is the most accurate, session 3 has no
// evaluations and a broken summary.
std::vector<SessionData> sessions() {
  std::vector<SessionData> out(3);
  const char* names[] = {"mlp-sgd", "mlp-adam", "crashed"};
  for (int i = 0; i < 3; ++i) {
    out[i].record.id = tb::store::SessionId(10 + i);
    out[i].record.name = names[i];
    out[i].batch_size = 64;
  }
  out[0].summary = {{"samples_per_s", 52000.0},
                    {"test_accuracy", 0.861},
                    {"test_loss", 0.41},
                    {"train_loss", 0.38},
                    {"wall_s", 95.0},
                    {"train_s", 80.0},
                    {"data_wait_s", 20.0},
                    {"steps", 9380},
                    {"peak_memory_bytes", 3.0 * 1024 * 1024 * 1024}};
  out[1].summary = {{"samples_per_s", 31000.0},
                    {"test_accuracy", 0.884},
                    {"test_loss", 0.33},
                    {"train_loss", 0.29},
                    {"wall_s", 150.0},
                    {"train_s", 140.0},
                    {"data_wait_s", 7.0},
                    {"steps", 9380},
                    {"peak_memory_bytes", 512.0 * 1024 * 1024}};
  auto& a0 = out[0].metrics["test_accuracy"];
  auto& a1 = out[1].metrics["test_accuracy"];
  for (int e = 1; e <= 10; ++e) {
    a0.step.push_back(e * 938);
    a0.wall_time.push_back(e * 9.5);
    a0.value.push_back(0.70 + 0.0161 * e);  // 85% at epoch 10 (86.1%)
    a1.step.push_back(e * 938);
    a1.wall_time.push_back(e * 15.0);
    a1.value.push_back(0.80 + 0.0084 * e);  // 85% at epoch 6 (85.04%)
  }
  return out;
}

std::vector<tb::widgets::SessionLabel> labelsOf(const std::vector<SessionData>& s) {
  return tb::widgets::sessionLabels(s);
}

}  // namespace

class CompareSummaryModelTest : public QObject {
  Q_OBJECT

 private slots:
  void contract() {
    CompareSummaryModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(model.columnCount(), 1);
    const auto s = sessions();
    model.setSummary(labelsOf(s), tb::compare::summarize(s, 0.85));
    QVERIFY(model.rowCount() >= 10);
    QCOMPARE(model.columnCount(), 4);
    QCOMPARE(model.rowCount(model.index(0, 0)), 0);
    model.setSummary({}, {});
    QCOMPARE(model.rowCount(), 0);
  }

  void bestMarkedInTheRightColumn() {
    CompareSummaryModel model;
    const auto s = sessions();
    model.setSummary(labelsOf(s), tb::compare::summarize(s, 0.85));
    auto check = [&](const char* key, int bestSession) {
      const int row = model.rowOf(key);
      QVERIFY2(row >= 0, key);
      for (int session = 0; session < 3; ++session) {
        const QModelIndex index = model.index(row, CompareSummaryModel::sessionColumn(session));
        const bool best = session == bestSession;
        QCOMPARE(model.data(index, CompareSummaryModel::BestRole).toBool(), best);
        QCOMPARE(model.data(index).toString().startsWith(
                     QString::fromUtf8(CompareSummaryModel::kBestMark)),
                 best);
        QCOMPARE(model.data(index, Qt::FontRole).value<QFont>().bold(), best);
        QCOMPARE(model.data(index, Qt::BackgroundRole).value<QBrush>().color() ==
                     CompareSummaryModel::bestColor(),
                 best);
      }
    };
    check("samples_per_s", 0);     // higher is better
    check("time_to_target_s", 1);  // lower: 90 s beside 95 s
    check("final_test_accuracy", 1);
    check("peak_memory_bytes", 1);  // lower
    check("data_wait_share", 1);    // 5% beside 25%
    check("steps", -1);             // no better or worse
  }

  void valuesWithUnits() {
    CompareSummaryModel model;
    const auto s = sessions();
    model.setSummary(labelsOf(s), tb::compare::summarize(s, 0.85));
    auto text = [&](const char* key, int session) {
      return model.data(model.index(model.rowOf(key), CompareSummaryModel::sessionColumn(session)))
          .toString()
          .remove(QString::fromUtf8(CompareSummaryModel::kBestMark));
    };
    QCOMPARE(text("final_test_accuracy", 0), QString("86.10 %"));
    QCOMPARE(text("peak_memory_bytes", 0), QString("3.00 GiB"));
    QCOMPARE(text("peak_memory_bytes", 1), QString("512.0 MiB"));
    QCOMPARE(text("data_wait_share", 0), QString("25.0 %"));
    QCOMPARE(text("duration_s", 1), QString("2 min 30 s"));
    QCOMPARE(text("time_to_target_s", 1), QString("1 min 30 s"));
    QCOMPARE(text("steps_to_target", 1), QLocale().toString(5628));
    // The crashed session: unknown, shown as a dash, grey, no raw value.
    QCOMPARE(text("samples_per_s", 2), QString("—"));
    const QModelIndex unknown =
        model.index(model.rowOf("samples_per_s"), CompareSummaryModel::sessionColumn(2));
    QVERIFY(!model.data(unknown, CompareSummaryModel::RawValueRole).isValid());
    QVERIFY(model.data(unknown, Qt::ForegroundRole).isValid());
    const QModelIndex known =
        model.index(model.rowOf("samples_per_s"), CompareSummaryModel::sessionColumn(1));
    QCOMPARE(model.data(known, CompareSummaryModel::RawValueRole).toDouble(), 31000.0);
    // The label column names the outcome (the target in it) and says which way is better.
    const QModelIndex label = model.index(model.rowOf("time_to_target_s"), 0);
    QVERIFY(model.data(label).toString().contains("85.0%"));
    QCOMPARE(model.data(label, Qt::ToolTipRole).toString(), QString("Lower is better"));
  }

  void tiesNameNoWinner() {
    CompareSummaryModel model;
    auto s = sessions();
    s[1].summary["samples_per_s"] = 52000.0;  // as fast as session 1
    model.setSummary(labelsOf(s), tb::compare::summarize(s, 0.85));
    const int row = model.rowOf("samples_per_s");
    for (int c = 1; c <= 3; ++c)
      QVERIFY(!model.data(model.index(row, c), CompareSummaryModel::BestRole).toBool());
  }

  void headers() {
    CompareSummaryModel model;
    const auto s = sessions();
    model.setSummary(labelsOf(s), tb::compare::summarize(s, 0.85));
    QCOMPARE(model.headerData(0, Qt::Horizontal).toString(), QString("Outcome"));
    QCOMPARE(model.headerData(2, Qt::Horizontal).toString(), QString("#11 mlp-adam"));
    for (int i = 0; i < 3; ++i) {
      QCOMPARE(
          model.headerData(i + 1, Qt::Horizontal, tb::widgets::kSessionColorRole).value<QColor>(),
          tb::widgets::sessionColor(i));
    }
  }

  void formatValue() {
    const auto row = [](const char* key, const char* unit) {
      return SummaryRow{key, key, unit, tb::compare::Better::none, {}, std::nullopt};
    };
    QCOMPARE(CompareSummaryModel::formatValue(row("final_train_loss", ""), 0.123456),
             QString("0.1235"));
    QCOMPARE(CompareSummaryModel::formatValue(row("duration_s", "s"), 4.5), QString("4.50 s"));
    QCOMPARE(CompareSummaryModel::formatValue(row("duration_s", "s"), 7300), QString("2 h 01 min"));
    QCOMPARE(CompareSummaryModel::formatValue(row("peak_memory_bytes", "bytes"), 2048),
             QString("2.0 KiB"));
    QCOMPARE(CompareSummaryModel::formatValue(row("steps", ""), std::nan("")), QString("—"));
  }
};

QTEST_MAIN(CompareSummaryModelTest)
#include "compare_summary_model_test.moc"
