// SessionTableModel: the stored sessions as a table (one row a session, newest first as the store
// lists them).
//
// The model is replaced whole by setSessions() (a reset): the list is short and re-read from the
// database when it changes, and a reset is the one change every view and proxy handles correctly.
// summary_json is parsed once there, not in data(), which views call for every visible cell on
// every repaint.
#pragma once

#include <QAbstractTableModel>
#include <QString>

#include <optional>
#include <vector>

#include "core/store/session_store.h"

namespace tb::widgets {

class SessionTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    IdColumn,
    NameColumn,
    StatusColumn,
    CreatedColumn,
    DurationColumn,
    AccuracyColumn,
    ThroughputColumn,
    SeedColumn,
    RevisionColumn,
    ColumnCount
  };
  enum Role {
    SessionIdRole = Qt::UserRole + 1,  // qint64, in every column
    RawValueRole,  // the unformatted value (numbers as double, text as stored), for sorting
  };

  explicit SessionTableModel(QObject* parent = nullptr);

  void setSessions(std::vector<store::SessionRecord> sessions);
  const store::SessionRecord* sessionAt(int row) const;
  std::optional<int> rowOf(store::SessionId id) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

 private:
  struct Row {
    store::SessionRecord record;
    std::optional<double> accuracy;       // summary_json's test_accuracy, 0..1
    std::optional<double> samplesPerSec;  // summary_json's samples_per_s
    std::optional<double> durationSec;    // finished - created
    QString created;                      // local time, for display
  };

  QVariant display(const Row& row, int column) const;
  QVariant raw(const Row& row, int column) const;

  std::vector<Row> rows_;
};

}  // namespace tb::widgets
