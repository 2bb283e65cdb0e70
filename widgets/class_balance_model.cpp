#include "widgets/class_balance_model.h"

#include <QBrush>
#include <QColor>
#include <QLocale>

#include <algorithm>

namespace tb::widgets {

namespace {

std::int64_t at(const std::vector<std::int64_t>& counts, std::size_t i) {
  return i < counts.size() ? counts[i] : 0;
}

QString formatShare(double share, std::int64_t total) {
  // An empty set has no shares: a dash, not a misleading "0.0 %".
  if (total <= 0) return QStringLiteral("–");
  return QStringLiteral("%1 %").arg(share * 100.0, 0, 'f', 1);
}

}  // namespace

ClassBalanceModel::ClassBalanceModel(QObject* parent) : QAbstractTableModel(parent) {}

void ClassBalanceModel::setReport(const data::InspectReport& report) {
  setCounts(report.class_names, report.train_class_counts, report.test_class_counts);
}

void ClassBalanceModel::setCounts(const std::vector<std::string>& classNames,
                                  const std::vector<std::int64_t>& trainCounts,
                                  const std::vector<std::int64_t>& testCounts) {
  beginResetModel();
  rows_.clear();
  const std::size_t n = std::max({classNames.size(), trainCounts.size(), testCounts.size()});
  trainTotal_ = 0;
  testTotal_ = 0;
  for (std::size_t i = 0; i < n; ++i) {
    trainTotal_ += at(trainCounts, i);
    testTotal_ += at(testCounts, i);
  }
  largestShare_ = 0.0;
  rows_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Row row;
    row.name = i < classNames.size() ? QString::fromStdString(classNames[i])
                                     : tr("class %1").arg(static_cast<qulonglong>(i));
    row.train = at(trainCounts, i);
    row.test = at(testCounts, i);
    row.trainShare =
        trainTotal_ > 0 ? static_cast<double>(row.train) / static_cast<double>(trainTotal_) : 0.0;
    row.testShare =
        testTotal_ > 0 ? static_cast<double>(row.test) / static_cast<double>(testTotal_) : 0.0;
    largestShare_ = std::max({largestShare_, row.trainShare, row.testShare});
    rows_.push_back(std::move(row));
  }
  endResetModel();
}

void ClassBalanceModel::clear() {
  setCounts({}, {}, {});
}

int ClassBalanceModel::rowCount(const QModelIndex& parent) const {
  // A table: only the invisible root has children.
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int ClassBalanceModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant ClassBalanceModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
    return {};
  }
  const Row& row = rows_[static_cast<std::size_t>(index.row())];
  const int column = index.column();
  switch (role) {
    case Qt::DisplayRole:
      return display(row, column);
    case RawValueRole:
      return raw(row, column);
    case BarFractionRole:
      if (largestShare_ <= 0.0) return {};
      if (column == TrainShareColumn) return row.trainShare / largestShare_;
      if (column == TestShareColumn) return row.testShare / largestShare_;
      return {};
    case Qt::TextAlignmentRole:
      return QVariant::fromValue<int>((column == ClassColumn ? Qt::AlignLeft : Qt::AlignRight) |
                                      Qt::AlignVCenter);
    case Qt::ForegroundRole: {
      // A class missing from a set that has samples is the one balance problem that is never
      // benign: the model cannot learn it, or its test accuracy is unmeasured.
      const bool trainMissing = row.train == 0 && trainTotal_ > 0;
      const bool testMissing = row.test == 0 && testTotal_ > 0;
      const bool red = ((column == TrainColumn || column == TrainShareColumn) && trainMissing) ||
                       ((column == TestColumn || column == TestShareColumn) && testMissing) ||
                       (column == ClassColumn && (trainMissing || testMissing));
      return red ? QVariant(QBrush(QColor(0xc0, 0x1c, 0x28))) : QVariant();
    }
    case Qt::ToolTipRole: {
      const double uniform = rows_.empty() ? 0.0 : 100.0 / static_cast<double>(rows_.size());
      switch (column) {
        case TrainShareColumn:
        case TestShareColumn:
          return tr("%1 of the %2 set (an even split would be %3 %)")
              .arg(display(row, column).toString(),
                   column == TrainShareColumn ? tr("training") : tr("test"))
              .arg(uniform, 0, 'f', 1);
        default:
          return row.name;
      }
    }
    default:
      return {};
  }
}

QVariant ClassBalanceModel::display(const Row& row, int column) const {
  switch (column) {
    case ClassColumn:
      return row.name;
    case TrainColumn:
      return QLocale().toString(static_cast<qlonglong>(row.train));
    case TestColumn:
      return QLocale().toString(static_cast<qlonglong>(row.test));
    case TrainShareColumn:
      return formatShare(row.trainShare, trainTotal_);
    case TestShareColumn:
      return formatShare(row.testShare, testTotal_);
    default:
      return {};
  }
}

QVariant ClassBalanceModel::raw(const Row& row, int column) const {
  switch (column) {
    case ClassColumn:
      return row.name;
    case TrainColumn:
      return QVariant::fromValue<qint64>(row.train);
    case TestColumn:
      return QVariant::fromValue<qint64>(row.test);
    case TrainShareColumn:
      return row.trainShare;
    case TestShareColumn:
      return row.testShare;
    default:
      return {};
  }
}

QVariant ClassBalanceModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) {
    return QAbstractTableModel::headerData(section, orientation, role);
  }
  if (role == Qt::DisplayRole) {
    static const char* const kTitles[ColumnCount] = {"Class", "Train", "Test", "Train %", "Test %"};
    return tr(kTitles[section]);
  }
  if (role == Qt::ToolTipRole) {
    switch (section) {
      case TrainColumn:
        return tr("Training samples of the class");
      case TestColumn:
        return tr("Test samples of the class");
      case TrainShareColumn:
        return tr("The class's share of the training set");
      case TestShareColumn:
        return tr(
            "The class's share of the test set: far from its training share, test accuracy "
            "weighs the classes differently than training did");
      default:
        return {};
    }
  }
  if (role == Qt::TextAlignmentRole) {
    return QVariant::fromValue<int>((section == ClassColumn ? Qt::AlignLeft : Qt::AlignRight) |
                                    Qt::AlignVCenter);
  }
  return {};
}

}  // namespace tb::widgets
