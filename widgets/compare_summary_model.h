// CompareSummaryModel: the outcomes of the compared sessions as a table: one row an outcome
// (throughput, time to the target accuracy, peak memory, data-wait share, final metrics, as
// compare::summarize gives them), the outcome in column 0 and one column a session after it.
// Values are formatted with their units (accuracies as percentages, bytes in KiB / MiB / GiB,
// seconds as durations); each row's best value is bold, starred and tinted.
#pragma once

#include <QAbstractTableModel>

#include <vector>

#include "core/compare/compare_summary.h"
#include "widgets/session_colors.h"

namespace tb::widgets {

class CompareSummaryModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Role {
    RawValueRole = Qt::UserRole + 1,  // the value as a double (invalid when not known)
    BestRole,                         // bool: this cell is its row's best
    KeyRole,                          // the row's stable key ("samples_per_s")
  };
  static constexpr int kLabelColumn = 0;
  static int sessionColumn(int session) { return session + 1; }
  static constexpr const char* kBestMark = "★ ";

  explicit CompareSummaryModel(QObject* parent = nullptr);

  void setSummary(std::vector<SessionLabel> sessions, std::vector<compare::SummaryRow> rows);
  const std::vector<compare::SummaryRow>& rows() const { return rows_; }
  // The row with `key`, or -1.
  int rowOf(const std::string& key) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

  // A row's value as shown, without the best mark: "87.34 %", "1.50 GiB", "2 min 05 s".
  static QString formatValue(const compare::SummaryRow& row, double value);
  static QColor bestColor() { return {0xd9, 0xf2, 0xd0}; }

 private:
  std::vector<SessionLabel> sessions_;
  std::vector<compare::SummaryRow> rows_;
};

}  // namespace tb::widgets
