// The session browser: the lazily read model (through QAbstractItemModelTester), groups, filters,
// sorting, rename, tags, notes, delete with undo, compare selection, and a read-only database.
#include <QAbstractItemModelTester>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableView>
#include <QTest>
#include <QTreeWidget>

#include <fstream>

#include "core/store/session_catalog.h"
#include "tests/support/raw_sqlite.h"
#include "tests/support/test_data.h"
#include "tests/widgets/widget_test_support.h"
#include "widgets/session_browser.h"
#include "widgets/session_browser_model.h"

using tb::store::SessionId;
using tb::store::SessionStore;
using tb::widgets::SessionBrowser;
using tb::widgets::SessionBrowserModel;
namespace raw = tb::store::testing_raw;

class SessionBrowserTest : public QObject {
  Q_OBJECT

 private:
  std::unique_ptr<tb::testing::TempDir> dir_;
  std::filesystem::path path_;

  // A database of `count` generated sessions.
  std::filesystem::path makeDatabase(int count, const char* name = "sessions.db") {
    const auto path = *dir_ / name;
    { SessionStore create(path); }
    raw::generate_sessions(path, count);
    return path;
  }

  static void selectRows(QTableView* table, const std::vector<int>& rows) {
    table->selectionModel()->clearSelection();
    for (int row : rows) {
      table->selectionModel()->select(table->model()->index(row, 0),
                                      QItemSelectionModel::Select | QItemSelectionModel::Rows);
    }
  }

  static QTreeWidgetItem* findGroup(QTreeWidget* tree, const QString& prefix) {
    for (QTreeWidgetItemIterator it(tree); *it; ++it) {
      if ((*it)->text(0).startsWith(prefix)) return *it;
    }
    return nullptr;
  }

 private slots:
  void init() { dir_ = std::make_unique<tb::testing::TempDir>(); }
  void cleanup() { dir_.reset(); }

  void modelReadsPagesLazilyAndPassesTheTester() {
    const auto path = makeDatabase(1000);
    SessionStore store(path);
    SessionBrowserModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setStore(&store);
    QCOMPARE(model.rowCount(), 1000);
    QVERIFY(model.pagesLoaded() <= 1);  // the tester reads the first rows; nothing else is read
    // Newest first: the last generated run is row 0.
    QCOMPARE(model.index(0, SessionBrowserModel::NameColumn).data().toString(),
             QStringLiteral("run 999"));
    QCOMPARE(model.pagesLoaded(), 1);
    QCOMPARE(model.index(999, SessionBrowserModel::NameColumn).data().toString(),
             QStringLiteral("run 0"));
    QCOMPARE(model.pagesLoaded(), 2);  // the first page and the last, nothing between
    QCOMPARE(model.index(5, SessionBrowserModel::AccuracyColumn).data().toString(),
             QStringLiteral("89.40 %"));  // run 994: 0.80 + 94 / 1000
    QCOMPARE(model.index(5, SessionBrowserModel::AccuracyColumn)
                 .data(SessionBrowserModel::RawValueRole)
                 .toDouble(),
             0.894);

    model.sort(SessionBrowserModel::ThroughputColumn, Qt::DescendingOrder);
    QCOMPARE(model.index(0, SessionBrowserModel::ThroughputColumn)
                 .data(SessionBrowserModel::RawValueRole)
                 .toDouble(),
             1996.0);
    model.sort(SessionBrowserModel::NameColumn, Qt::AscendingOrder);
    QCOMPARE(model.index(0, SessionBrowserModel::NameColumn).data().toString(),
             QStringLiteral("run 0"));

    tb::store::SessionQuery query;
    query.text = "lion";
    model.setQuery(query);
    QCOMPARE(model.rowCount(), 200);
    QCOMPARE(model.query().sort, tb::store::SessionColumn::name);  // the sort survives a filter

    // Renaming and tagging through the model write the store.
    const QModelIndex name = model.index(0, SessionBrowserModel::NameColumn);
    const SessionId id(name.data(SessionBrowserModel::SessionIdRole).toLongLong());
    QVERIFY(model.flags(name) & Qt::ItemIsEditable);
    QVERIFY(model.setData(name, QStringLiteral("renamed run")));
    QCOMPARE(store.session(id)->name, std::string("renamed run"));
    QVERIFY(!model.setData(name, QStringLiteral("   ")));  // never nameless
    QVERIFY(model.setData(model.index(0, SessionBrowserModel::TagsColumn),
                          QStringLiteral("best, baseline ,best")));
    QCOMPARE(tb::store::session_overview(store, id)->tags,
             (std::vector<std::string>{"baseline", "best"}));
    QCOMPARE(model.index(0, SessionBrowserModel::TagsColumn).data().toString(),
             QStringLiteral("baseline, best"));
  }

  void browserGroupsFiltersAndSorts() {
    const auto path = makeDatabase(700);
    SessionBrowser browser;
    QVERIFY(browser.openDatabase(path));
    browser.resize(1400, 700);
    browser.show();
    QVERIFY(QTest::qWaitForWindowExposed(&browser));
    QCOMPARE(browser.model()->rowCount(), 700);
    QVERIFY(!browser.readOnly());
    QVERIFY(browser.bannerText().isEmpty());

    // Groups: all, 7 projects with their counts, and the tags.
    QTreeWidgetItem* project3 = findGroup(browser.groups(), QStringLiteral("project3"));
    QVERIFY(project3 != nullptr);
    QCOMPARE(project3->text(0), QStringLiteral("project3  (100)"));
    QVERIFY(findGroup(browser.groups(), QStringLiteral("tag1")) != nullptr);
    browser.groups()->setCurrentItem(project3);
    QCOMPARE(browser.model()->rowCount(), 100);

    browser.setTextFilter(QStringLiteral("adamw"));  // i % 5 == 2 among i % 7 == 3
    QCOMPARE(browser.model()->rowCount(), 20);
    browser.setColumnFilter(SessionBrowserModel::AccuracyColumn, QStringLiteral(">= 0.85"));
    const int filtered = browser.model()->rowCount();
    QVERIFY(filtered > 0 && filtered < 20);
    for (int row = 0; row < filtered; ++row) {
      QVERIFY(browser.model()
                  ->index(row, SessionBrowserModel::AccuracyColumn)
                  .data(SessionBrowserModel::RawValueRole)
                  .toDouble() >= 0.85);
    }
    browser.clearColumnFilters();
    QCOMPARE(browser.model()->rowCount(), 20);
    browser.setTextFilter({});
    browser.groups()->setCurrentItem(findGroup(browser.groups(), QStringLiteral("All sessions")));
    QCOMPARE(browser.model()->rowCount(), 700);

    // A click on a header sorts through the store.
    browser.table()->sortByColumn(SessionBrowserModel::DurationColumn, Qt::AscendingOrder);
    QCOMPARE(browser.model()
                 ->index(0, SessionBrowserModel::DurationColumn)
                 .data(SessionBrowserModel::RawValueRole)
                 .toDouble(),
             60.0);
    tb::testing::saveScreenshot(browser, QStringLiteral("session_browser.png"));
  }

  void notesTagsDeleteUndoAndPurge() {
    const auto path = makeDatabase(30);
    SessionBrowser browser;
    QVERIFY(browser.openDatabase(path));
    browser.show();
    QSignalSpy compared(&browser, &SessionBrowser::compareRequested);

    selectRows(browser.table(), {0});
    const SessionId first = browser.selectedSessions().front();
    QVERIFY(browser.notesEdit()->isEnabled());
    browser.notesEdit()->setPlainText(QStringLiteral("warmup helped"));
    browser.saveNotes();
    browser.tagsEdit()->setText(QStringLiteral("keep, fp32"));
    emit browser.tagsEdit()->editingFinished();
    {
      SessionStore reader(path, SessionStore::Mode::read_only);
      const auto overview = tb::store::session_overview(reader, first);
      QCOMPARE(overview->notes, std::string("warmup helped"));
      QCOMPARE(overview->tags, (std::vector<std::string>{"fp32", "keep"}));
    }
    QVERIFY(browser.model()->index(0, 0).data().toString().endsWith(QStringLiteral("✎")));
    QVERIFY(findGroup(browser.groups(), QStringLiteral("keep")) != nullptr);

    // Compare: 2 to 20 sessions.
    QVERIFY(!browser.compareButton()->isEnabled());
    selectRows(browser.table(), {0, 1, 2});
    QVERIFY(browser.compareButton()->isEnabled());
    browser.compareButton()->click();
    QCOMPARE(compared.size(), 1);
    QCOMPARE(compared.front().front().value<QList<qint64>>().size(), 3);
    selectRows(browser.table(), std::vector<int>{0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10,
                                                 11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
    QVERIFY(!browser.compareButton()->isEnabled());

    // Delete two (the live one is kept), undo, delete again, purge.
    selectRows(browser.table(), {0, 1, 2});
    const auto three = browser.selectedSessions();
    browser.setLiveSession(three[0]);
    browser.deleteSelected();
    QCOMPARE(browser.model()->rowCount(), 28);
    QVERIFY(browser.undoButton()->isVisible());
    browser.undoDelete();
    QCOMPARE(browser.model()->rowCount(), 30);
    selectRows(browser.table(), {0, 1});
    const auto two = browser.selectedSessions();
    browser.setLiveSession({});
    browser.deleteSelected();
    QCOMPARE(browser.model()->rowCount(), 28);
    {
      SessionStore reader(path, SessionStore::Mode::read_only);
      QVERIFY(reader.session(two[0]).has_value());  // still undoable: only hidden
    }
    browser.purgeTrash();
    SessionStore reader(path, SessionStore::Mode::read_only);
    QVERIFY(!reader.session(two[0]).has_value());
    QVERIFY(!reader.session(two[1]).has_value());
    QCOMPARE(tb::store::count_sessions(reader, {}), 28);
  }

  void aNewerDatabaseOpensReadOnly() {
    const auto path = makeDatabase(5);
    raw::raw_exec(path, "UPDATE schema_version SET version = 99");
    const std::string before = raw::file_bytes(path);
    {
      SessionBrowser browser;
      QVERIFY(browser.openDatabase(path));
      browser.show();
      QVERIFY(browser.readOnly());
      QVERIFY(browser.bannerText().contains(QStringLiteral("Read-only")));
      QVERIFY(browser.bannerText().contains(QStringLiteral("version 99")));
      QCOMPARE(browser.model()->rowCount(), 5);
      QVERIFY(!(browser.model()->flags(browser.model()->index(0, 0)) & Qt::ItemIsEditable));
      selectRows(browser.table(), {0});
      QVERIFY(!browser.deleteButton()->isEnabled());
      QVERIFY(!browser.notesEdit()->isEnabled());
      browser.deleteSelected();
      browser.purgeTrash();
      tb::testing::saveScreenshot(browser, QStringLiteral("session_browser_read_only.png"));
    }
    QCOMPARE(raw::file_bytes(path), before);

    // Damaged inside (a page of garbage): found by the background check, then read-only.
    const auto damaged = makeDatabase(3000, "damaged.db");
    std::string bytes = raw::file_bytes(damaged);
    const std::size_t page = (bytes.size() / 4096 / 2) * 4096;
    for (std::size_t i = 0; i < 4096; ++i) bytes[page + i] = static_cast<char>(i * 37 + 11);
    {
      std::ofstream out(damaged, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    {
      SessionBrowser browser;
      browser.openDatabase(damaged);
      QTRY_VERIFY_WITH_TIMEOUT(browser.integrityChecked(), 20000);
      QVERIFY(browser.readOnly());
      QVERIFY2(browser.bannerText().contains(QStringLiteral("damaged")),
               qPrintable(browser.bannerText()));
      browser.deleteSelected();
      browser.purgeTrash();
    }
    QCOMPARE(raw::file_bytes(damaged), bytes);

    // Not a database at all: a message, no crash, nothing written.
    const auto junk = *dir_ / "junk.db";
    raw::raw_exec(junk, "SELECT 1");  // an empty SQLite file would be "new"; make it junk instead
    {
      std::ofstream out(junk, std::ios::binary | std::ios::trunc);
      out << "this is not a database, just text of some length to look like a file............";
    }
    const std::string junkBefore = raw::file_bytes(junk);
    SessionBrowser browser;
    QVERIFY(!browser.openDatabase(junk));
    QVERIFY2(browser.bannerText().contains(QStringLiteral("not a SQLite database")),
             qPrintable(browser.bannerText()));
    QCOMPARE(browser.model()->rowCount(), 0);
    QCOMPARE(raw::file_bytes(junk), junkBefore);
  }
};

QTEST_MAIN(SessionBrowserTest)
#include "session_browser_test.moc"
