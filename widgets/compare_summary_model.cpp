#include "widgets/compare_summary_model.h"

#include <QBrush>
#include <QFont>
#include <QLocale>

#include <cmath>

namespace tb::widgets {
namespace {

bool contains(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

QString bytesText(double bytes) {
  const double a = std::abs(bytes);
  if (a >= 1024.0 * 1024 * 1024)
    return QStringLiteral("%1 GiB").arg(bytes / (1024.0 * 1024 * 1024), 0, 'f', 2);
  if (a >= 1024.0 * 1024) return QStringLiteral("%1 MiB").arg(bytes / (1024.0 * 1024), 0, 'f', 1);
  if (a >= 1024.0) return QStringLiteral("%1 KiB").arg(bytes / 1024.0, 0, 'f', 1);
  return QStringLiteral("%1 B").arg(bytes, 0, 'f', 0);
}

QString secondsText(double s) {
  if (s < 60.0) return QStringLiteral("%1 s").arg(s, 0, 'f', s < 10.0 ? 2 : 1);
  const auto total = static_cast<qint64>(std::llround(s));
  if (total < 3600)
    return QStringLiteral("%1 min %2 s").arg(total / 60).arg(total % 60, 2, 10, QLatin1Char('0'));
  return QStringLiteral("%1 h %2 min")
      .arg(total / 3600)
      .arg((total % 3600) / 60, 2, 10, QLatin1Char('0'));
}

}  // namespace

CompareSummaryModel::CompareSummaryModel(QObject* parent) : QAbstractTableModel(parent) {}

QString CompareSummaryModel::formatValue(const compare::SummaryRow& row, double value) {
  if (!std::isfinite(value)) return QStringLiteral("—");
  // Accuracies are stored as fractions; people read them as percentages.
  if (contains(row.key, "accuracy")) return QStringLiteral("%1 %").arg(value * 100.0, 0, 'f', 2);
  if (row.unit == "bytes") return bytesText(value);
  if (row.unit == "s") return secondsText(value);
  if (row.unit == "%") return QStringLiteral("%1 %").arg(value, 0, 'f', 1);
  if (row.unit == "samples/s") return QLocale().toString(value, 'f', value < 100 ? 1 : 0);
  if (contains(row.key, "steps")) return QLocale().toString(std::llround(value));
  return QString::number(value, 'g', 4);
}

void CompareSummaryModel::setSummary(std::vector<SessionLabel> sessions,
                                     std::vector<compare::SummaryRow> rows) {
  beginResetModel();
  sessions_ = std::move(sessions);
  rows_ = std::move(rows);
  for (auto& row : rows_) {
    row.values.resize(sessions_.size());
    if (row.best && *row.best >= sessions_.size()) row.best.reset();
  }
  endResetModel();
}

int CompareSummaryModel::rowOf(const std::string& key) const {
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    if (rows_[i].key == key) return static_cast<int>(i);
  }
  return -1;
}

int CompareSummaryModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int CompareSummaryModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : 1 + static_cast<int>(sessions_.size());
}

QVariant CompareSummaryModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
    return {};
  }
  const compare::SummaryRow& row = rows_[static_cast<std::size_t>(index.row())];
  const int column = index.column();
  if (column == kLabelColumn) {
    switch (role) {
      case Qt::DisplayRole:
        return QString::fromStdString(row.label);
      case Qt::ToolTipRole:
        return row.better == compare::Better::higher  ? tr("Higher is better")
               : row.better == compare::Better::lower ? tr("Lower is better")
                                                      : QVariant();
      case KeyRole:
        return QString::fromStdString(row.key);
      default:
        return {};
    }
  }
  const auto session = static_cast<std::size_t>(column - 1);
  const std::optional<double>& value = row.values[session];
  const bool best = row.best && *row.best == session;
  switch (role) {
    case Qt::DisplayRole:
      if (!value) return QStringLiteral("—");
      return (best ? QString::fromUtf8(kBestMark) : QString()) + formatValue(row, *value);
    case Qt::ToolTipRole:
      if (!value) return tr("Not known for this session");
      if (best) {
        return row.better == compare::Better::higher ? tr("Best: the highest of the sessions")
                                                     : tr("Best: the lowest of the sessions");
      }
      return QString::number(*value, 'g', 10);
    case Qt::TextAlignmentRole:
      return QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter);
    case Qt::BackgroundRole:
      return best ? QVariant(QBrush(bestColor())) : QVariant();
    case Qt::FontRole:
      if (best) {
        QFont bold;
        bold.setBold(true);
        return bold;
      }
      return {};
    case Qt::ForegroundRole:
      return value ? QVariant() : QVariant(QBrush(QColor(0x90, 0x90, 0x90)));
    case RawValueRole:
      return value ? QVariant(*value) : QVariant();
    case BestRole:
      return best;
    case KeyRole:
      return QString::fromStdString(row.key);
    default:
      return {};
  }
}

QVariant CompareSummaryModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || section < 0 || section >= columnCount()) {
    return QAbstractTableModel::headerData(section, orientation, role);
  }
  if (section == kLabelColumn)
    return role == Qt::DisplayRole ? QVariant(tr("Outcome")) : QVariant();
  return sessionHeaderData(sessions_[static_cast<std::size_t>(section - 1)], role);
}

}  // namespace tb::widgets
