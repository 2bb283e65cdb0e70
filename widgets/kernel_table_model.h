// KernelTableModel: trace::kernel_table as a table: one row a kernel (or, grouped, a kernel
// template), with its time, its launch configuration, registers, shared memory and occupancy
// estimate. The rows are replaced whole (a model reset), never edited: a new trace or new options
// make a new table in core.
//
// Cells show values with their units; RawValueRole gives the number behind each (times in ns,
// share and occupancy in %, configurations as their block or thread count) so that a
// QSortFilterProxyModel sorts by value, not by text. What the trace does not say (no occupancy
// estimate, no launch args) shows as a dash and has no raw value.
#pragma once

#include <QAbstractTableModel>

#include <vector>

#include "core/trace/kernel_table.h"

namespace tb::widgets {

class KernelTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    NameColumn,
    CategoryColumn,
    CountColumn,
    TotalColumn,
    ShareColumn,
    MeanColumn,
    MinColumn,
    MaxColumn,
    GridColumn,
    BlockColumn,
    ConfigsColumn,
    RegistersColumn,
    SharedMemoryColumn,
    OccupancyColumn,
    StepsColumn,
    ColumnCount
  };
  enum Role {
    RawValueRole = Qt::UserRole + 1,  // numbers as double, text as shown; invalid when not known
    LongestSpanRole,                  // the row's longest instance: index into Trace::spans()
  };

  explicit KernelTableModel(QObject* parent = nullptr);

  void setRows(std::vector<trace::KernelRow> rows);
  void clear() { setRows({}); }
  const std::vector<trace::KernelRow>& rows() const { return rows_; }
  const trace::KernelRow* rowAt(int row) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

  // "16×7×32".
  static QString formatDim3(const trace::Dim3& dims);

 private:
  QVariant display(const trace::KernelRow& row, int column) const;
  QVariant raw(const trace::KernelRow& row, int column) const;
  QString toolTip(const trace::KernelRow& row) const;

  std::vector<trace::KernelRow> rows_;
};

}  // namespace tb::widgets
