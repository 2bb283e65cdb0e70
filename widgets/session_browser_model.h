// SessionBrowserModel: the session browser's table, read lazily from the store's catalog.
//
// The row count comes from one indexed count; rows arrive in pages of kPageRows the first time a
// view asks for one of them, so a browser over 10,000 sessions reads one page before its first
// paint, and a view scrolled to the end reads the pages it shows. Sorting and filtering are the
// store's (indexed SQL), never a proxy over all rows. A new query, sort or refresh resets the
// model; an edit (rename, tags) re-reads that row's page and signals dataChanged.
#pragma once

#include <QAbstractTableModel>
#include <QString>

#include <map>
#include <optional>
#include <vector>

#include "core/store/session_catalog.h"

namespace tb::widgets {

class SessionBrowserModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    NameColumn,
    CreatedColumn,
    StatusColumn,
    ProjectColumn,
    DatasetColumn,
    ModelColumn,
    OptimizerColumn,
    PrecisionColumn,
    AccuracyColumn,
    ThroughputColumn,
    DurationColumn,
    TagsColumn,
    IdColumn,
    ColumnCount
  };
  enum Role {
    SessionIdRole = Qt::UserRole + 1,  // qint64, in every column
    RawValueRole,                      // numbers as double, text as stored
  };
  static constexpr int kPageRows = 256;

  explicit SessionBrowserModel(QObject* parent = nullptr);

  // The store read (and, unless read-only, edited); not owned; null shows nothing. Resets.
  void setStore(store::SessionStore* store);
  store::SessionStore* store() const { return store_; }
  bool editable() const { return store_ != nullptr && !store_->read_only(); }

  // Filters and groups; the sort stays the model's own (sort()). Resets.
  void setQuery(store::SessionQuery query);
  const store::SessionQuery& query() const { return query_; }
  // Re-counts and forgets every page read (after the store changed). Resets.
  void refresh();

  // The session in `row` changed in the store (notes, tags): its page is read again.
  void rowChanged(int row);

  // The session shown in `row` (reads its page when needed); nullopt out of range.
  std::optional<store::SessionOverview> overviewAt(int row) const;
  // The row of `id` among the pages read so far.
  std::optional<int> loadedRowOf(store::SessionId id) const;
  int pagesLoaded() const { return static_cast<int>(pages_.size()); }
  // The last error reading or writing the store (empty when none).
  const QString& lastError() const { return lastError_; }

  // The store's column a view column sorts and filters by.
  static store::SessionColumn storeColumn(int column);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
  Qt::ItemFlags flags(const QModelIndex& index) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;
  void sort(int column, Qt::SortOrder order = Qt::AscendingOrder) override;

 signals:
  // A read or write of the store failed; the message names the database and what failed.
  void errorOccurred(const QString& message);

 private:
  const store::SessionOverview* rowAt(int row) const;
  void reload();
  void reportError(const QString& message) const;
  QVariant display(const store::SessionOverview& row, int column) const;
  QVariant raw(const store::SessionOverview& row, int column) const;

  store::SessionStore* store_ = nullptr;
  store::SessionQuery query_;
  int count_ = 0;
  // Page index -> its rows. Mutable: data() is const, and reading a page on first sight is what
  // makes the model lazy.
  mutable std::map<int, std::vector<store::SessionOverview>> pages_;
  mutable QString lastError_;
};

}  // namespace tb::widgets
