// SessionBrowser: every stored session in one sortable, filterable table, grouped by project,
// sweep and tag, with rename, tags, notes and delete (undoable until the window closes), and the
// selection of 2 to 20 sessions to compare.
//
// The browser owns its own connection to the database, read-write when it can be; a newer or
// otherwise unwritable database opens read-only with the reason shown above the table and every
// edit off. A writable file is checked page by page in the background (store::check_integrity);
// a damaged one is then reopened read-only, so nothing more is written into it. Deleting moves
// sessions to the trash (hidden everywhere); Undo brings the last batch back; purgeTrash() (the
// window calls it when it closes) deletes the trash for good, each session with its metrics and
// trace, in one transaction.
#pragma once

#include <QList>
#include <QString>
#include <QTimer>
#include <QWidget>

#include <atomic>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/store/session_catalog.h"

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QTableView;
class QThread;
class QTreeWidget;
class QTreeWidgetItem;
class QHBoxLayout;

namespace tb::widgets {

class SessionBrowserModel;

class SessionBrowser : public QWidget {
  Q_OBJECT

 public:
  static constexpr int kMaxCompared = 20;

  explicit SessionBrowser(QWidget* parent = nullptr);
  ~SessionBrowser() override;

  // Opens the database and shows its sessions; sessions a previous window left in the trash are
  // deleted first. False (and the reason above the table) when it cannot be read at all.
  bool openDatabase(const std::filesystem::path& path);
  store::SessionStore* store() const { return store_.get(); }
  bool readOnly() const;
  QString bannerText() const;

  // The background integrity check of the opened database is done (tests wait for it).
  bool integrityChecked() const { return checker_ == nullptr; }

  // The session a run is writing now: it cannot be deleted (invalid: none).
  void setLiveSession(store::SessionId id) { live_ = id; }

  SessionBrowserModel* model() const { return model_; }
  QTableView* table() const { return table_; }
  QTreeWidget* groups() const { return groups_; }
  QLineEdit* filterEdit() const { return filter_; }
  QPlainTextEdit* notesEdit() const { return notes_; }
  QLineEdit* tagsEdit() const { return tags_; }
  QPushButton* compareButton() const { return compare_; }
  QPushButton* deleteButton() const { return delete_; }
  QPushButton* undoButton() const { return undo_; }

  std::vector<store::SessionId> selectedSessions() const;

 public slots:
  // Re-reads the sessions and the groups (a run started or finished).
  void refresh();
  // The text filter (also typed into the filter box; applied after a short pause there).
  void setTextFilter(const QString& text);
  // Adds a column filter ("adam", "> 0.85" on numeric columns); an empty text removes it.
  void setColumnFilter(int column, const QString& text);
  void clearColumnFilters();
  // Shows only the sessions of one group: a project, a sweep or a tag (nullptr item: all).
  void selectGroup(QTreeWidgetItem* item);
  // Moves the selected sessions to the trash (undoable).
  void deleteSelected();
  // Brings back the sessions of the last delete.
  void undoDelete();
  // Deletes every session in the trash for good, in one transaction.
  void purgeTrash();
  // Writes the notes editor's text to the current session now (it is also saved when typing
  // pauses and when the selection moves).
  void saveNotes();
  void requestCompare();

 signals:
  void compareRequested(const QList<qint64>& sessionIds);
  void sessionActivated(qint64 sessionId);
  // Sessions were renamed, tagged, deleted or restored: other session lists should re-read.
  void sessionsChanged();

 private:
  void buildUi();
  void applyQuery();
  void rebuildGroups();
  void rebuildFilterChips();
  void onSelectionChanged();
  void showDetails();
  void saveTags();
  void updateActions();
  void showError(const QString& message);
  void editColumnFilter(int column);

  // A damaged file found by the background check: reopened read-only, the reason shown.
  void onIntegrityChecked(const std::filesystem::path& path, const QString& finding);
  void stopIntegrityCheck();

  std::unique_ptr<store::SessionStore> store_;
  QThread* checker_ = nullptr;  // the integrity check of the opened file, while it runs
  std::atomic<bool> cancelCheck_{false};
  QString readOnlyReason_;
  store::SessionId live_;
  store::SessionId detailsShown_;  // the session the notes and tags editors show

  SessionBrowserModel* model_ = nullptr;
  QTableView* table_ = nullptr;
  QTreeWidget* groups_ = nullptr;
  QLineEdit* filter_ = nullptr;
  QHBoxLayout* chips_ = nullptr;
  QWidget* chipBar_ = nullptr;
  QLabel* banner_ = nullptr;
  QLabel* count_ = nullptr;
  QLabel* detailsTitle_ = nullptr;
  QPlainTextEdit* notes_ = nullptr;
  QLineEdit* tags_ = nullptr;
  QPushButton* compare_ = nullptr;
  QPushButton* delete_ = nullptr;
  QPushButton* undo_ = nullptr;
  QLabel* undoLabel_ = nullptr;
  QWidget* undoBar_ = nullptr;
  QTimer filterTimer_;
  QTimer notesTimer_;

  store::SessionQuery groupQuery_;  // the project, sweep or tag picked in the groups
  std::vector<store::ColumnFilter> columnFilters_;
  std::vector<std::vector<store::SessionId>> deleted_;  // batches, the latest last
};

}  // namespace tb::widgets
