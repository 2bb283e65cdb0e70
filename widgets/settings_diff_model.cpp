#include "widgets/settings_diff_model.h"

#include <QBrush>
#include <QFont>

namespace tb::widgets {

SettingsDiffModel::SettingsDiffModel(QObject* parent) : QAbstractTableModel(parent) {}

void SettingsDiffModel::setSessions(std::vector<SessionLabel> sessions,
                                    std::vector<compare::SettingsRow> rows) {
  beginResetModel();
  sessions_ = std::move(sessions);
  rows_ = std::move(rows);
  // A row with a value for each session, however the rows came: data() indexes by column.
  for (auto& row : rows_) row.values.resize(sessions_.size());
  differing_ = 0;
  for (const auto& row : rows_) differing_ += row.differs ? 1 : 0;
  select();
  endResetModel();
}

void SettingsDiffModel::setDifferencesOnly(bool on) {
  if (on == differencesOnly_) return;
  beginResetModel();
  differencesOnly_ = on;
  select();
  endResetModel();
}

void SettingsDiffModel::select() {
  shown_.clear();
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    if (!differencesOnly_ || rows_[i].differs) shown_.push_back(static_cast<int>(i));
  }
}

std::vector<compare::SettingsRow> SettingsDiffModel::shownRows() const {
  std::vector<compare::SettingsRow> out;
  out.reserve(shown_.size());
  for (const int i : shown_) out.push_back(rows_[static_cast<std::size_t>(i)]);
  return out;
}

const compare::SettingsRow* SettingsDiffModel::rowAt(int row) const {
  if (row < 0 || row >= static_cast<int>(shown_.size())) return nullptr;
  return &rows_[static_cast<std::size_t>(shown_[static_cast<std::size_t>(row)])];
}

int SettingsDiffModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(shown_.size());
}

int SettingsDiffModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : 1 + static_cast<int>(sessions_.size());
}

QVariant SettingsDiffModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
    return {};
  }
  const compare::SettingsRow& row = *rowAt(index.row());
  const int column = index.column();
  const std::optional<std::string>* value =
      column == kKeyColumn ? nullptr : &row.values[static_cast<std::size_t>(column - 1)];
  switch (role) {
    case Qt::DisplayRole:
      if (!value) return QString::fromStdString(row.key);
      return *value ? QString::fromStdString(**value) : QStringLiteral("—");
    case Qt::ToolTipRole:
      if (!value) return QString::fromStdString(row.key);
      if (!*value)
        return tr("%1 is not set in %2")
            .arg(QString::fromStdString(row.key),
                 sessions_[static_cast<std::size_t>(column - 1)].name);
      return QStringLiteral("%1 = %2").arg(QString::fromStdString(row.key),
                                           QString::fromStdString(**value));
    case Qt::BackgroundRole:
      if (!row.differs) return {};
      // Against the first session (the baseline), the cells that say something else.
      if (value && column > 1 && *value != row.values.front()) return QBrush(differingCellColor());
      return QBrush(differingRowColor());
    case Qt::FontRole:
      if (row.differs) {
        QFont bold;
        bold.setBold(true);
        return bold;
      }
      return {};
    case Qt::ForegroundRole:
      if (value && !*value) return QBrush(QColor(0x90, 0x90, 0x90));
      return {};
    case DiffersRole:
      return row.differs;
    case KeyRole:
      return QString::fromStdString(row.key);
    default:
      return {};
  }
}

QVariant SettingsDiffModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || section < 0 || section >= columnCount()) {
    return QAbstractTableModel::headerData(section, orientation, role);
  }
  if (section == kKeyColumn) {
    if (role == Qt::DisplayRole) return tr("Setting");
    if (role == Qt::ToolTipRole)
      return tr("%n setting(s) differ between the sessions", "", differing_);
    return {};
  }
  return sessionHeaderData(sessions_[static_cast<std::size_t>(section - 1)], role);
}

}  // namespace tb::widgets
