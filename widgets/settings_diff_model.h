// SettingsDiffModel: the settings diff of the compare view as a table: one row a flattened
// setting ("optimizer.lr"), the key in column 0 and one column a session after it, the rows that
// differ first, tinted and bold, the cells that differ from the first session (the baseline)
// tinted stronger. "Differences only" hides the rows every session agrees on.
//
// Replaced whole by setSessions() and by the toggle (a reset): the rows are few (hundreds at
// most) and a reset is what every view and proxy handles correctly.
#pragma once

#include <QAbstractTableModel>

#include <vector>

#include "core/compare/settings_diff.h"
#include "widgets/session_colors.h"

namespace tb::widgets {

class SettingsDiffModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Role {
    DiffersRole = Qt::UserRole + 1,  // bool, in every column of a row
    KeyRole,                         // the setting's dotted key, in every column
  };
  static constexpr int kKeyColumn = 0;
  static int sessionColumn(int session) { return session + 1; }

  explicit SettingsDiffModel(QObject* parent = nullptr);

  // Rows as compare::diff_settings gives them (differing first), one value a session.
  void setSessions(std::vector<SessionLabel> sessions, std::vector<compare::SettingsRow> rows);
  void setDifferencesOnly(bool on);
  bool differencesOnly() const { return differencesOnly_; }

  const std::vector<compare::SettingsRow>& allRows() const { return rows_; }
  // The rows shown now (all, or the differing ones).
  std::vector<compare::SettingsRow> shownRows() const;
  const compare::SettingsRow* rowAt(int row) const;
  int differingCount() const { return differing_; }
  int sessionCount() const { return static_cast<int>(sessions_.size()); }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

  static QColor differingRowColor() { return {0xff, 0xf6, 0xd5}; }
  static QColor differingCellColor() { return {0xff, 0xe2, 0x9a}; }

 private:
  std::vector<SessionLabel> sessions_;
  std::vector<compare::SettingsRow> rows_;
  std::vector<int> shown_;  // indices into rows_
  int differing_ = 0;
  bool differencesOnly_ = false;

  void select();
};

}  // namespace tb::widgets
