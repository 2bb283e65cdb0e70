#include "widgets/kernel_table_model.h"

#include <QBrush>
#include <QFont>
#include <QLocale>

#include "widgets/memory_plot.h"
#include "widgets/timeline_geometry.h"

namespace tb::widgets {
namespace {

QString duration(double ns) {
  return QString::fromStdString(formatDuration(ns));
}

QString count(std::int64_t n) {
  return QLocale().toString(static_cast<qlonglong>(n));
}

QString percent(double value) {
  return QString::number(value, 'f', 1) + QStringLiteral(" %");
}

double product(const trace::Dim3& dims) {
  return static_cast<double>(dims[0]) * static_cast<double>(dims[1]) * static_cast<double>(dims[2]);
}

const QString kUnknown = QStringLiteral("—");

bool numeric(int column) {
  return column != KernelTableModel::NameColumn && column != KernelTableModel::CategoryColumn;
}

// A column whose value the trace may not carry: those cells are greyed when it does not.
bool known(const trace::KernelRow& row, int column) {
  switch (column) {
    case KernelTableModel::GridColumn:
    case KernelTableModel::BlockColumn:
    case KernelTableModel::ConfigsColumn:
      return row.grid.has_value();
    case KernelTableModel::RegistersColumn:
      return row.registers_per_thread.has_value();
    case KernelTableModel::SharedMemoryColumn:
      return row.shared_memory_bytes.has_value();
    case KernelTableModel::OccupancyColumn:
      return row.occupancy_pct.has_value();
    case KernelTableModel::StepsColumn:
      return row.steps > 0;
    default:
      return true;
  }
}

}  // namespace

KernelTableModel::KernelTableModel(QObject* parent) : QAbstractTableModel(parent) {}

QString KernelTableModel::formatDim3(const trace::Dim3& dims) {
  return QStringLiteral("%1×%2×%3").arg(dims[0]).arg(dims[1]).arg(dims[2]);
}

void KernelTableModel::setRows(std::vector<trace::KernelRow> rows) {
  beginResetModel();
  rows_ = std::move(rows);
  endResetModel();
}

const trace::KernelRow* KernelTableModel::rowAt(int row) const {
  return row >= 0 && row < static_cast<int>(rows_.size()) ? &rows_[static_cast<std::size_t>(row)]
                                                          : nullptr;
}

int KernelTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int KernelTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant KernelTableModel::display(const trace::KernelRow& row, int column) const {
  if (!known(row, column)) return kUnknown;
  switch (column) {
    case NameColumn:
      return QString::fromStdString(row.name);
    case CategoryColumn:
      return QString::fromUtf8(trace::category_name(row.category));
    case CountColumn:
      return count(row.count);
    case TotalColumn:
      return duration(static_cast<double>(row.total_ns));
    case ShareColumn:
      return percent(row.share * 100.0);
    case MeanColumn:
      return duration(row.mean_ns);
    case MinColumn:
      return duration(static_cast<double>(row.min_ns));
    case MaxColumn:
      return duration(static_cast<double>(row.max_ns));
    case GridColumn:
      return formatDim3(*row.grid);
    case BlockColumn:
      return formatDim3(*row.block);
    case ConfigsColumn:
      return count(row.distinct_configs);
    case RegistersColumn:
      return count(*row.registers_per_thread);
    case SharedMemoryColumn:
      return MemoryPlot::formatBytes(static_cast<double>(*row.shared_memory_bytes));
    case OccupancyColumn:
      return percent(*row.occupancy_pct);
    case StepsColumn:
      return count(row.steps);
    default:
      return {};
  }
}

QVariant KernelTableModel::raw(const trace::KernelRow& row, int column) const {
  if (!known(row, column)) return {};
  switch (column) {
    case CountColumn:
      return static_cast<double>(row.count);
    case TotalColumn:
      return static_cast<double>(row.total_ns);
    case ShareColumn:
      return row.share * 100.0;
    case MeanColumn:
      return row.mean_ns;
    case MinColumn:
      return static_cast<double>(row.min_ns);
    case MaxColumn:
      return static_cast<double>(row.max_ns);
    case GridColumn:
      return product(*row.grid);  // blocks launched
    case BlockColumn:
      return product(*row.block);  // threads per block
    case ConfigsColumn:
      return static_cast<double>(row.distinct_configs);
    case RegistersColumn:
      return static_cast<double>(*row.registers_per_thread);
    case SharedMemoryColumn:
      return static_cast<double>(*row.shared_memory_bytes);
    case OccupancyColumn:
      return *row.occupancy_pct;
    case StepsColumn:
      return static_cast<double>(row.steps);
    default:
      return display(row, column);
  }
}

QString KernelTableModel::toolTip(const trace::KernelRow& row) const {
  QString tip = QString::fromStdString(row.name);
  if (row.names > 1) tip += tr("\n%1 template instances grouped").arg(row.names);
  tip += tr("\n%1 launches, %2 in all (%3 of the table's device time)")
             .arg(count(row.count), duration(static_cast<double>(row.total_ns)),
                  percent(row.share * 100.0));
  tip += tr("\nmean %1, min %2, max %3")
             .arg(duration(row.mean_ns), duration(static_cast<double>(row.min_ns)),
                  duration(static_cast<double>(row.max_ns)));
  if (row.config_varies) {
    tip += tr("\nlaunch configuration varies: the most frequent of %1 is shown")
               .arg(row.distinct_configs);
  }
  if (row.occupancy_pct) {
    tip += tr("\noccupancy estimate: mean of %1 launches").arg(row.occupancy_samples);
  } else {
    tip += tr("\nno occupancy estimate in the trace");
  }
  tip += tr("\ndouble-click: show the longest launch in the timeline");
  return tip;
}

QVariant KernelTableModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
    return {};
  }
  const trace::KernelRow& row = rows_[static_cast<std::size_t>(index.row())];
  const int column = index.column();
  switch (role) {
    case Qt::DisplayRole:
      return display(row, column);
    case RawValueRole:
      return raw(row, column);
    case LongestSpanRole:
      return static_cast<qulonglong>(row.longest_span);
    case Qt::TextAlignmentRole:
      return numeric(column) ? QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter)
                             : QVariant();
    case Qt::ForegroundRole:
      return known(row, column) ? QVariant() : QVariant(QBrush(QColor(0x90, 0x90, 0x90)));
    case Qt::FontRole:
      // The shown configuration is only the most frequent one: set apart when there are others.
      if (row.config_varies && (column == GridColumn || column == BlockColumn)) {
        QFont font;
        font.setItalic(true);
        return font;
      }
      return {};
    case Qt::ToolTipRole:
      return toolTip(row);
    default:
      return {};
  }
}

QVariant KernelTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount ||
      (role != Qt::DisplayRole && role != Qt::ToolTipRole)) {
    return QAbstractTableModel::headerData(section, orientation, role);
  }
  const bool tip = role == Qt::ToolTipRole;
  switch (section) {
    case NameColumn:
      return tip ? tr("The kernel's name (grouped: without template arguments and parameters)")
                 : tr("Kernel");
    case CategoryColumn:
      return tr("Category");
    case CountColumn:
      return tip ? tr("Launches") : tr("Count");
    case TotalColumn:
      return tr("Total");
    case ShareColumn:
      return tip ? tr("Share of the device time of every row of the table") : tr("Share");
    case MeanColumn:
      return tr("Mean");
    case MinColumn:
      return tr("Min");
    case MaxColumn:
      return tr("Max");
    case GridColumn:
      return tip ? tr("Blocks in the grid, of the most frequent launch configuration (italic "
                      "when it varies)")
                 : tr("Grid");
    case BlockColumn:
      return tip ? tr("Threads in a block, of the most frequent launch configuration (italic "
                      "when it varies)")
                 : tr("Block");
    case ConfigsColumn:
      return tip ? tr("Distinct launch configurations (grid and block)") : tr("Configs");
    case RegistersColumn:
      return tip ? tr("Registers per thread (the most frequent)") : tr("Registers");
    case SharedMemoryColumn:
      return tip ? tr("Shared memory per block (the most frequent)") : tr("Shared mem");
    case OccupancyColumn:
      return tip ? tr("Estimated occupancy, mean over the launches that carry an estimate (CUPTI "
                      "with known device limits, or Kineto's achieved occupancy)")
                 : tr("Occupancy");
    case StepsColumn:
      return tip ? tr("Training steps it runs in") : tr("Steps");
    default:
      return {};
  }
}

}  // namespace tb::widgets
