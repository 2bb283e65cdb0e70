// TraceDiffModel: the trace diff of two sessions (trace::diff_ops) as a table: one row an op or
// kernel that got faster or slower, or was added or removed, with its time per step before and
// after and the change, largest change first. Ops that stayed the same are left out unless asked
// for: the point of the table is what changed.
#pragma once

#include <QAbstractTableModel>
#include <QColor>

#include <cstdint>
#include <vector>

#include "core/trace/top_ops.h"

namespace tb::widgets {

class TraceDiffModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    NameColumn,
    CategoryColumn,
    ChangeColumn,
    BeforeColumn,
    AfterColumn,
    DeltaColumn,
    ColumnCount
  };
  enum Role {
    RawValueRole = Qt::UserRole + 1,  // times in ns as double (per step when both have steps)
    KindRole,                         // trace::DiffKind as int
  };

  explicit TraceDiffModel(QObject* parent = nullptr);

  // `stepsBefore` / `stepsAfter`: the step spans of each trace; when both have some, times are
  // shown per step (a run of 6 steps compares with one of 10), else as totals.
  void setDiff(std::vector<trace::OpDiff> diff, std::int64_t stepsBefore, std::int64_t stepsAfter,
               bool includeSame = false);
  void clear();
  const trace::OpDiff* diffAt(int row) const;
  bool perStep() const { return stepsBefore_ > 0 && stepsAfter_ > 0; }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

  static QColor kindColor(trace::DiffKind kind);

 private:
  double before(const trace::OpDiff& d) const;
  double after(const trace::OpDiff& d) const;

  std::vector<trace::OpDiff> rows_;
  std::int64_t stepsBefore_ = 0, stepsAfter_ = 0;
};

}  // namespace tb::widgets
