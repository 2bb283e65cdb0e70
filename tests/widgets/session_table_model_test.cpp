// SessionTableModel: the model contract (QAbstractItemModelTester) with no rows and several, and
// what each column shows for a stored session, including summaries that are missing or broken.
#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTest>

#include "widgets/session_table_model.h"

using tb::store::SessionId;
using tb::store::SessionRecord;
using tb::widgets::SessionTableModel;

namespace {

SessionRecord record(std::int64_t id, std::string name, std::string status, std::string summary) {
  SessionRecord r;
  r.id = SessionId(id);
  r.name = std::move(name);
  r.created = "2024-03-05T10:20:30Z";
  r.finished = status == "running" ? "" : "2024-03-05T10:21:45Z";
  r.status = std::move(status);
  r.project_json = "{}";
  r.git_revision = "abc123def456";
  r.host = "bench-host";
  r.seed = 42 + static_cast<std::uint64_t>(id);
  r.summary_json = std::move(summary);
  return r;
}

std::vector<SessionRecord> threeSessions() {
  return {record(3, "cnn-bn", "running", "{}"),
          record(2, "mlp-adam", "completed",
                 R"({"test_accuracy": 0.8734, "test_loss": 0.35, "samples_per_s": 12345.6})"),
          record(1, "broken", "failed", "not json at all")};
}

QString cell(const SessionTableModel& model, int row, int column, int role = Qt::DisplayRole) {
  return model.data(model.index(row, column), role).toString();
}

}  // namespace

class SessionTableModelTest : public QObject {
  Q_OBJECT

 private slots:
  void emptyModelPassesTester() {
    SessionTableModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(model.columnCount(), int(SessionTableModel::ColumnCount));
    model.setSessions({});
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(model.headerData(SessionTableModel::AccuracyColumn, Qt::Horizontal).toString(),
             QStringLiteral("Test accuracy"));
  }

  void severalSessionsPassTester() {
    SessionTableModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    model.setSessions(threeSessions());
    QCOMPARE(resets.count(), 1);
    QCOMPARE(model.rowCount(), 3);
    // A table: rows have no children.
    QCOMPARE(model.rowCount(model.index(0, 0)), 0);
    // Replacing and emptying are resets too.
    model.setSessions({record(7, "only", "completed", "{}")});
    QCOMPARE(model.rowCount(), 1);
    model.setSessions({});
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(resets.count(), 3);
  }

  void dataShowsEachColumn() {
    SessionTableModel model;
    model.setSessions(threeSessions());
    QCOMPARE(cell(model, 1, SessionTableModel::IdColumn), QStringLiteral("2"));
    QCOMPARE(cell(model, 1, SessionTableModel::NameColumn), QStringLiteral("mlp-adam"));
    QCOMPARE(cell(model, 1, SessionTableModel::StatusColumn), QStringLiteral("completed"));
    QCOMPARE(cell(model, 1, SessionTableModel::CreatedColumn),
             QStringLiteral("2024-03-05 10:20:30"));  // TZ=UTC in the test environment
    QCOMPARE(cell(model, 1, SessionTableModel::DurationColumn), QStringLiteral("1 min 15 s"));
    QCOMPARE(cell(model, 1, SessionTableModel::AccuracyColumn), QStringLiteral("87.34 %"));
    QCOMPARE(cell(model, 1, SessionTableModel::SeedColumn), QStringLiteral("44"));
    QCOMPARE(cell(model, 1, SessionTableModel::RevisionColumn), QStringLiteral("abc123def456"));
    QVERIFY(!cell(model, 1, SessionTableModel::ThroughputColumn).isEmpty());
    QCOMPARE(model
                 .data(model.index(1, SessionTableModel::ThroughputColumn),
                       SessionTableModel::RawValueRole)
                 .toDouble(),
             12345.6);
    QCOMPARE(model
                 .data(model.index(1, SessionTableModel::AccuracyColumn),
                       SessionTableModel::RawValueRole)
                 .toDouble(),
             0.8734);
    // The id is there in every column, for views that act on a row.
    for (int column = 0; column < SessionTableModel::ColumnCount; ++column) {
      QCOMPARE(model.data(model.index(0, column), SessionTableModel::SessionIdRole).toLongLong(),
               3);
    }
  }

  void missingOrBrokenSummaryLeavesCellsBlank() {
    SessionTableModel model;
    model.setSessions(threeSessions());
    // Running: no summary yet, no duration.
    QCOMPARE(cell(model, 0, SessionTableModel::AccuracyColumn), QString());
    QCOMPARE(cell(model, 0, SessionTableModel::DurationColumn), QString());
    QCOMPARE(cell(model, 0, SessionTableModel::StatusColumn), QStringLiteral("running"));
    // Not JSON: blank, not a crash.
    QCOMPARE(cell(model, 2, SessionTableModel::AccuracyColumn), QString());
    QCOMPARE(cell(model, 2, SessionTableModel::ThroughputColumn), QString());
    QVERIFY(model.data(model.index(2, SessionTableModel::StatusColumn), Qt::ForegroundRole)
                .isValid());  // failed is drawn in red
  }

  void lookupByRowAndId() {
    SessionTableModel model;
    model.setSessions(threeSessions());
    QCOMPARE(model.rowOf(SessionId(1)).value_or(-1), 2);
    QVERIFY(!model.rowOf(SessionId(99)).has_value());
    QVERIFY(model.sessionAt(1) != nullptr);
    QCOMPARE(model.sessionAt(1)->name, std::string("mlp-adam"));
    QVERIFY(model.sessionAt(3) == nullptr);
    QVERIFY(model.sessionAt(-1) == nullptr);
    QVERIFY(!model.data(model.index(5, 0)).isValid());
  }
};

QTEST_MAIN(SessionTableModelTest)
#include "session_table_model_test.moc"
