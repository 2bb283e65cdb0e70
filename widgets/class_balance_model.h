// ClassBalanceModel: the class balance of a training and a test set, one row a class: its name,
// its sample count in each set and its share of each set.
//
// Replaced whole by setReport() / setCounts() (a model reset): a dataset has a handful of classes
// and a check replaces every number at once, and a reset is the one change every view and proxy
// handles correctly. Shares are computed there, not in data(), which views call on every repaint.
#pragma once

#include <QAbstractTableModel>
#include <QString>

#include <cstdint>
#include <string>
#include <vector>

#include "core/data/inspect.h"

namespace tb::widgets {

class ClassBalanceModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    ClassColumn,
    TrainColumn,
    TestColumn,
    TrainShareColumn,
    TestShareColumn,
    ColumnCount
  };
  enum Role {
    // The unformatted value: the class name, a count (qint64) or a share in 0..1 (double).
    RawValueRole = Qt::UserRole + 1,
    // Share columns only: the share over the largest share of any class in either set (0..1), so
    // bars drawn with it compare across both columns.
    BarFractionRole,
  };

  explicit ClassBalanceModel(QObject* parent = nullptr);

  void setReport(const data::InspectReport& report);
  // Rows: the longest of the three; a class without a name is "class N", a missing count is 0.
  void setCounts(const std::vector<std::string>& classNames,
                 const std::vector<std::int64_t>& trainCounts,
                 const std::vector<std::int64_t>& testCounts);
  void clear();

  std::int64_t trainTotal() const { return trainTotal_; }
  std::int64_t testTotal() const { return testTotal_; }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

 private:
  struct Row {
    QString name;
    std::int64_t train = 0;
    std::int64_t test = 0;
    double trainShare = 0.0;  // 0..1 of the training set
    double testShare = 0.0;
  };

  QVariant display(const Row& row, int column) const;
  QVariant raw(const Row& row, int column) const;

  std::vector<Row> rows_;
  std::int64_t trainTotal_ = 0;
  std::int64_t testTotal_ = 0;
  double largestShare_ = 0.0;
};

}  // namespace tb::widgets
