#include "widgets/trace_diff_model.h"

#include <QBrush>

#include "widgets/timeline_geometry.h"

namespace tb::widgets {
namespace {

QString duration(double ns) {
  return QString::fromStdString(formatDuration(ns));
}

}  // namespace

TraceDiffModel::TraceDiffModel(QObject* parent) : QAbstractTableModel(parent) {}

QColor TraceDiffModel::kindColor(trace::DiffKind kind) {
  switch (kind) {
    case trace::DiffKind::faster:
      return {0x1a, 0x7f, 0x37};
    case trace::DiffKind::slower:
      return {0xc0, 0x1c, 0x28};
    case trace::DiffKind::added:
      return {0x98, 0x5a, 0x00};
    case trace::DiffKind::removed:
      return {0x1a, 0x5f, 0xb4};
    case trace::DiffKind::same:
      break;
  }
  return {0x70, 0x70, 0x70};
}

void TraceDiffModel::setDiff(std::vector<trace::OpDiff> diff, std::int64_t stepsBefore,
                             std::int64_t stepsAfter, bool includeSame) {
  beginResetModel();
  rows_.clear();
  for (auto& d : diff) {
    if (includeSame || d.kind != trace::DiffKind::same) rows_.push_back(std::move(d));
  }
  stepsBefore_ = stepsBefore;
  stepsAfter_ = stepsAfter;
  endResetModel();
}

void TraceDiffModel::clear() {
  setDiff({}, 0, 0);
}

const trace::OpDiff* TraceDiffModel::diffAt(int row) const {
  return row >= 0 && row < static_cast<int>(rows_.size()) ? &rows_[static_cast<std::size_t>(row)]
                                                          : nullptr;
}

double TraceDiffModel::before(const trace::OpDiff& d) const {
  const auto total = static_cast<double>(d.before.total_ns);
  return perStep() ? total / static_cast<double>(stepsBefore_) : total;
}

double TraceDiffModel::after(const trace::OpDiff& d) const {
  const auto total = static_cast<double>(d.after.total_ns);
  return perStep() ? total / static_cast<double>(stepsAfter_) : total;
}

int TraceDiffModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int TraceDiffModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant TraceDiffModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
    return {};
  }
  const trace::OpDiff& d = rows_[static_cast<std::size_t>(index.row())];
  const int column = index.column();
  // The change as diff_ops measures it (per step when both traces have steps).
  const double delta = d.delta_per_step_ns;
  switch (role) {
    case Qt::DisplayRole:
      switch (column) {
        case NameColumn:
          return QString::fromStdString(d.name);
        case CategoryColumn:
          return QString::fromUtf8(trace::category_name(d.category));
        case ChangeColumn:
          return QString::fromUtf8(trace::diff_kind_name(d.kind));
        case BeforeColumn:
          return d.before.count > 0 ? duration(before(d)) : QStringLiteral("—");
        case AfterColumn:
          return d.after.count > 0 ? duration(after(d)) : QStringLiteral("—");
        case DeltaColumn:
          return (delta > 0 ? QStringLiteral("+") : QString()) + duration(delta);
        default:
          return {};
      }
    case RawValueRole:
      switch (column) {
        case BeforeColumn:
          return before(d);
        case AfterColumn:
          return after(d);
        case DeltaColumn:
          return delta;
        default:
          return data(index, Qt::DisplayRole);
      }
    case KindRole:
      return static_cast<int>(d.kind);
    case Qt::ForegroundRole:
      return column == ChangeColumn || column == DeltaColumn ? QVariant(QBrush(kindColor(d.kind)))
                                                             : QVariant();
    case Qt::TextAlignmentRole:
      return column >= BeforeColumn ? QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter)
                                    : QVariant();
    case Qt::ToolTipRole:
      return tr("%1\nbefore: %2 calls, %3 mean, %4 total\nafter: %5 calls, %6 mean, %7 total")
          .arg(QString::fromStdString(d.name))
          .arg(d.before.count)
          .arg(duration(d.before.mean_ns), duration(static_cast<double>(d.before.total_ns)))
          .arg(d.after.count)
          .arg(duration(d.after.mean_ns), duration(static_cast<double>(d.after.total_ns)));
    default:
      return {};
  }
}

QVariant TraceDiffModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount ||
      role != Qt::DisplayRole) {
    return QAbstractTableModel::headerData(section, orientation, role);
  }
  const bool step = perStep();
  switch (section) {
    case NameColumn:
      return tr("Op / kernel");
    case CategoryColumn:
      return tr("Category");
    case ChangeColumn:
      return tr("Change");
    case BeforeColumn:
      return step ? tr("Before (per step)") : tr("Before (total)");
    case AfterColumn:
      return step ? tr("After (per step)") : tr("After (total)");
    case DeltaColumn:
      return step ? tr("Δ per step") : tr("Δ total");
    default:
      return {};
  }
}

}  // namespace tb::widgets
