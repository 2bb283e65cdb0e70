// ProjectEditor: validation as the user types (debounced), the messages for bad fields and bad
// JSON, and loading / saving files.
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QPlainTextEdit>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBlock>

#include "widgets/project_editor.h"

using tb::widgets::ProjectEditor;

class ProjectEditorTest : public QObject {
  Q_OBJECT

 private slots:
  void validJsonGivesProject() {
    ProjectEditor editor;
    editor.setText(
        QStringLiteral(R"({"name": "tiny", "optimizer": {"lr": 0.1}, "model": {"hidden": [32]}})"));
    QVERIFY(editor.isValid());
    const auto project = editor.project();
    QVERIFY(project.has_value());
    QCOMPARE(project->name, std::string("tiny"));
    QCOMPARE(project->optimizer.lr, 0.1);
    QVERIFY(project->model.hidden == std::vector<std::int64_t>{32});
    QVERIFY(editor.validationMessage().startsWith(QStringLiteral("Valid")));
    QVERIFY(editor.errorField().isEmpty());
  }

  void wrongTypeNamesField() {
    ProjectEditor editor;
    editor.setText(QStringLiteral(R"({"optimizer": {"lr": "x"}})"));
    QVERIFY(!editor.isValid());
    QVERIFY(!editor.project().has_value());
    QCOMPARE(editor.errorField(), QStringLiteral("optimizer.lr"));
    QVERIFY2(editor.validationMessage().contains(QStringLiteral("optimizer.lr")),
             qPrintable(editor.validationMessage()));
    // The line with the failing key is marked.
    const auto marks = editor.textEdit()->extraSelections();
    QCOMPARE(marks.size(), 1);
  }

  void unknownKeyNamesField() {
    ProjectEditor editor;
    editor.setText(QStringLiteral("{\n  \"train\": {\n    \"epochz\": 3\n  }\n}\n"));
    QVERIFY(!editor.isValid());
    QVERIFY2(editor.validationMessage().contains(QStringLiteral("epochz")),
             qPrintable(editor.validationMessage()));
    QVERIFY2(editor.errorField().contains(QStringLiteral("epochz")),
             qPrintable(editor.errorField()));
    const auto marks = editor.textEdit()->extraSelections();
    QCOMPARE(marks.size(), 1);
    QCOMPARE(marks.front().cursor.block().blockNumber(), 2);  // the "epochz" line
  }

  void malformedJsonSaysWhere() {
    ProjectEditor editor;
    editor.setText(QStringLiteral("{\n  \"name\": \"x\",\n  oops\n}"));
    QVERIFY(!editor.isValid());
    QVERIFY2(editor.validationMessage().contains(QStringLiteral("line 3")),
             qPrintable(editor.validationMessage()));
    QVERIFY(editor.errorField().isEmpty());
  }

  void typingValidatesAfterPause() {
    ProjectEditor editor;
    editor.setText(QStringLiteral("{}"));
    QVERIFY(editor.isValid());
    QSignalSpy validated(&editor, &ProjectEditor::validated);
    editor.textEdit()->selectAll();
    QTest::keyClicks(editor.textEdit(), QStringLiteral(R"({"seed": "not a number"})"));
    // Debounced: one validation after typing stops, not one per key.
    QTRY_COMPARE_WITH_TIMEOUT(validated.count(), 1, 5000);
    QTest::qWait(ProjectEditor::debounceMs() * 2);
    QCOMPARE(validated.count(), 1);
    QVERIFY(!editor.isValid());
    QCOMPARE(validated.first().first().toBool(), false);
    // project() reflects the text at once, even before the pause ends.
    editor.textEdit()->setPlainText(QStringLiteral("{}"));
    QVERIFY(editor.project().has_value());
  }

  void fillDefaultsWritesEveryKey() {
    ProjectEditor editor;
    editor.setText(QStringLiteral(R"({"name": "d"})"));
    editor.fillDefaults();
    QVERIFY(editor.isValid());
    QVERIFY(editor.text().contains(QStringLiteral("\"optimizer\"")));
    QVERIFY(editor.text().contains(QStringLiteral("\"batch_size\"")));
    QCOMPARE(editor.project()->name, std::string("d"));
  }

  void loadAndSaveFiles() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("p.json"));
    ProjectEditor editor;
    QSignalSpy renamed(&editor, &ProjectEditor::fileNameChanged);
    editor.setText(QStringLiteral(R"({"name": "saved", "train": {"epochs": 3}})"));
    editor.textEdit()->appendPlainText(QStringLiteral(" "));
    QVERIFY(editor.isModified());
    QString error;
    QVERIFY2(editor.saveFile(path, &error), qPrintable(error));
    QVERIFY(!editor.isModified());
    QCOMPARE(editor.fileName(), path);
    QCOMPARE(renamed.count(), 1);

    ProjectEditor other;
    QVERIFY2(other.loadFile(path, &error), qPrintable(error));
    QVERIFY(other.isValid());
    QCOMPARE(other.project()->train.epochs, std::int64_t{3});

    QVERIFY(!other.loadFile(dir.filePath(QStringLiteral("missing.json")), &error));
    QVERIFY2(error.contains(QStringLiteral("missing.json")), qPrintable(error));
    QVERIFY(!other.saveFile(dir.filePath(QStringLiteral("no/such/dir/p.json")), &error));
    QVERIFY(error.contains(QStringLiteral("p.json")));
  }
};

QTEST_MAIN(ProjectEditorTest)
#include "project_editor_test.moc"
