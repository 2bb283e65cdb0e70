#include "widgets/session_browser_model.h"

#include <QBrush>
#include <QColor>

#include <algorithm>

#include "widgets/session_format.h"

namespace tb::widgets {

namespace {

QString text(const std::string& value) {
  return QString::fromStdString(value);
}

QString joinTags(const std::vector<std::string>& tags) {
  QStringList list;
  for (const auto& tag : tags) list << text(tag);
  return list.join(QStringLiteral(", "));
}

}  // namespace

SessionBrowserModel::SessionBrowserModel(QObject* parent) : QAbstractTableModel(parent) {
  query_.sort = store::SessionColumn::id;
  query_.descending = true;
}

void SessionBrowserModel::setStore(store::SessionStore* store) {
  store_ = store;
  reload();
}

void SessionBrowserModel::setQuery(store::SessionQuery query) {
  query.sort = query_.sort;
  query.descending = query_.descending;
  query_ = std::move(query);
  reload();
}

void SessionBrowserModel::refresh() {
  reload();
}

void SessionBrowserModel::reload() {
  beginResetModel();
  pages_.clear();
  count_ = 0;
  lastError_.clear();
  if (store_ != nullptr) {
    try {
      count_ = static_cast<int>(store::count_sessions(*store_, query_));
    } catch (const std::exception& error) {
      reportError(QString::fromUtf8(error.what()));
    }
  }
  endResetModel();
}

void SessionBrowserModel::reportError(const QString& message) const {
  lastError_ = message;
  // Emitted later: data() may be inside a view's paint, where a slot showing a message box would
  // re-enter the view.
  QMetaObject::invokeMethod(
      const_cast<SessionBrowserModel*>(this),
      [self = const_cast<SessionBrowserModel*>(this), message] {
        emit self->errorOccurred(message);
      },
      Qt::QueuedConnection);
}

const store::SessionOverview* SessionBrowserModel::rowAt(int row) const {
  if (row < 0 || row >= count_ || store_ == nullptr) return nullptr;
  const int page = row / kPageRows;
  auto it = pages_.find(page);
  if (it == pages_.end()) {
    std::vector<store::SessionOverview> rows;
    try {
      rows = store::query_sessions(*store_, query_, static_cast<std::int64_t>(page) * kPageRows,
                                   kPageRows);
    } catch (const std::exception& error) {
      reportError(QString::fromUtf8(error.what()));
    }
    // Stored even when short or empty (sessions deleted since the count): a failing page is not
    // asked for again on every repaint.
    it = pages_.emplace(page, std::move(rows)).first;
  }
  const auto index = static_cast<std::size_t>(row % kPageRows);
  return index < it->second.size() ? &it->second[index] : nullptr;
}

std::optional<store::SessionOverview> SessionBrowserModel::overviewAt(int row) const {
  const auto* overview = rowAt(row);
  if (overview == nullptr) return std::nullopt;
  return *overview;
}

std::optional<int> SessionBrowserModel::loadedRowOf(store::SessionId id) const {
  for (const auto& [page, rows] : pages_) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].id == id) return page * kPageRows + static_cast<int>(i);
    }
  }
  return std::nullopt;
}

store::SessionColumn SessionBrowserModel::storeColumn(int column) {
  using store::SessionColumn;
  switch (column) {
    case NameColumn:
      return SessionColumn::name;
    case CreatedColumn:
      return SessionColumn::created;
    case StatusColumn:
      return SessionColumn::status;
    case ProjectColumn:
      return SessionColumn::project;
    case DatasetColumn:
      return SessionColumn::dataset;
    case ModelColumn:
      return SessionColumn::model;
    case OptimizerColumn:
      return SessionColumn::optimizer;
    case PrecisionColumn:
      return SessionColumn::precision;
    case AccuracyColumn:
      return SessionColumn::best_accuracy;
    case ThroughputColumn:
      return SessionColumn::samples_per_s;
    case DurationColumn:
      return SessionColumn::duration_s;
    case TagsColumn:
      return SessionColumn::tags;
    default:
      return SessionColumn::id;
  }
}

int SessionBrowserModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : count_;
}

int SessionBrowserModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant SessionBrowserModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
    return {};
  }
  const store::SessionOverview* row = rowAt(index.row());
  if (row == nullptr) return {};
  const int column = index.column();
  switch (role) {
    case Qt::DisplayRole:
      return display(*row, column);
    case Qt::EditRole:
      if (column == NameColumn) return text(row->name);
      if (column == TagsColumn) return joinTags(row->tags);
      return display(*row, column);
    case RawValueRole:
      return raw(*row, column);
    case SessionIdRole:
      return QVariant::fromValue<qint64>(row->id.value);
    case Qt::TextAlignmentRole:
      switch (column) {
        case AccuracyColumn:
        case ThroughputColumn:
        case DurationColumn:
        case IdColumn:
          return QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter);
        default:
          return QVariant::fromValue<int>(Qt::AlignLeft | Qt::AlignVCenter);
      }
    case Qt::ForegroundRole:
      if (column != StatusColumn) return {};
      if (row->status == "failed") return QBrush(QColor(0xc0, 0x1c, 0x28));
      if (row->status == "running") return QBrush(QColor(0x1a, 0x5f, 0xb4));
      if (row->status == "stopped") return QBrush(QColor(0x98, 0x6a, 0x00));
      return {};
    case Qt::ToolTipRole:
      if (column == CreatedColumn) return text(row->created + " (UTC)");
      if (!row->notes.empty()) return text(row->name + "\n\n" + row->notes);
      return text(row->name);
    default:
      return {};
  }
}

QVariant SessionBrowserModel::display(const store::SessionOverview& row, int column) const {
  switch (column) {
    case NameColumn:
      // A note is worth a glance: the marker says there is one, the tooltip shows it.
      return row.notes.empty() ? text(row.name) : text(row.name) + QStringLiteral("  ✎");
    case CreatedColumn:
      return formatSessionTime(row.created);
    case StatusColumn:
      return text(row.status);
    case ProjectColumn:
      return text(row.project);
    case DatasetColumn:
      return text(row.dataset);
    case ModelColumn:
      return text(row.model);
    case OptimizerColumn:
      return text(row.optimizer);
    case PrecisionColumn:
      return text(row.precision);
    case AccuracyColumn:
      return row.best_accuracy ? formatAccuracy(*row.best_accuracy) : QString();
    case ThroughputColumn:
      return row.samples_per_s ? formatRate(*row.samples_per_s) : QString();
    case DurationColumn:
      return row.duration_s ? formatDuration(*row.duration_s) : QString();
    case TagsColumn:
      return joinTags(row.tags);
    case IdColumn:
      return QVariant::fromValue<qint64>(row.id.value);
    default:
      return {};
  }
}

QVariant SessionBrowserModel::raw(const store::SessionOverview& row, int column) const {
  switch (column) {
    case NameColumn:
      return text(row.name);
    case CreatedColumn:
      return text(row.created);
    case AccuracyColumn:
      return row.best_accuracy ? QVariant(*row.best_accuracy) : QVariant();
    case ThroughputColumn:
      return row.samples_per_s ? QVariant(*row.samples_per_s) : QVariant();
    case DurationColumn:
      return row.duration_s ? QVariant(*row.duration_s) : QVariant();
    default:
      return display(row, column);
  }
}

Qt::ItemFlags SessionBrowserModel::flags(const QModelIndex& index) const {
  Qt::ItemFlags flags = QAbstractTableModel::flags(index);
  if (index.isValid() && editable() &&
      (index.column() == NameColumn || index.column() == TagsColumn)) {
    flags |= Qt::ItemIsEditable;
  }
  return flags;
}

bool SessionBrowserModel::setData(const QModelIndex& index, const QVariant& value, int role) {
  if (role != Qt::EditRole || !editable() ||
      !checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
    return false;
  }
  const store::SessionOverview* row = rowAt(index.row());
  if (row == nullptr) return false;
  const store::SessionId id = row->id;
  try {
    if (index.column() == NameColumn) {
      const QString name = value.toString().trimmed();
      if (name.isEmpty()) return false;  // a session keeps a name
      store::rename_session(*store_, id, name.toStdString());
    } else if (index.column() == TagsColumn) {
      std::vector<std::string> tags;
      for (const QString& tag : value.toString().split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        tags.push_back(tag.trimmed().toStdString());
      }
      store::set_tags(*store_, id, tags);
    } else {
      return false;
    }
  } catch (const std::exception& error) {
    reportError(QString::fromUtf8(error.what()));
    return false;
  }
  rowChanged(index.row());
  return true;
}

void SessionBrowserModel::rowChanged(int row) {
  if (row < 0 || row >= count_) return;
  // The row's page is read again. Its order may differ now, but rows stay where they are until
  // the next reset, so an edit never makes the row jump away under the cursor.
  const int page = row / kPageRows;
  pages_.erase(page);
  emit dataChanged(index(page * kPageRows, 0),
                   index(std::min(count_, (page + 1) * kPageRows) - 1, ColumnCount - 1));
}

QVariant SessionBrowserModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) {
    return QAbstractTableModel::headerData(section, orientation, role);
  }
  if (role == Qt::DisplayRole) {
    static const char* const kTitles[ColumnCount] = {
        "Name",      "Created",   "Status",    "Project",  "Dataset", "Model", "Optimizer",
        "Precision", "Best acc.", "Samples/s", "Duration", "Tags",    "ID"};
    return tr(kTitles[section]);
  }
  if (role == Qt::ToolTipRole) {
    switch (section) {
      case AccuracyColumn:
        return tr("The best test accuracy the run reached");
      case ThroughputColumn:
        return tr("Training samples per second, evaluation excluded");
      case NameColumn:
        return tr("Double-click or F2 to rename; ✎ marks a session with notes");
      case TagsColumn:
        return tr("Double-click to edit: tags separated by commas");
      default:
        return {};
    }
  }
  return {};
}

void SessionBrowserModel::sort(int column, Qt::SortOrder order) {
  if (column < 0 || column >= ColumnCount) return;
  query_.sort = storeColumn(column);
  query_.descending = order == Qt::DescendingOrder;
  reload();
}

}  // namespace tb::widgets
