#include "widgets/session_table_model.h"

#include <QBrush>
#include <QColor>
#include <QDateTime>
#include <QLocale>

#include <nlohmann/json.hpp>

#include "widgets/session_format.h"

namespace tb::widgets {

namespace {

std::optional<double> numberField(const nlohmann::json& doc, const char* key) {
  if (!doc.is_object()) return std::nullopt;
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

}  // namespace

SessionTableModel::SessionTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void SessionTableModel::setSessions(std::vector<store::SessionRecord> sessions) {
  beginResetModel();
  rows_.clear();
  rows_.reserve(sessions.size());
  for (auto& record : sessions) {
    Row row;
    // A summary that is not JSON (a run killed mid-write, a foreign tool) only blanks its cells.
    const auto summary = nlohmann::json::parse(record.summary_json, nullptr, false);
    row.accuracy = numberField(summary, "test_accuracy");
    row.samplesPerSec = numberField(summary, "samples_per_s");
    const QDateTime created = parseSessionTime(record.created);
    const QDateTime finished = parseSessionTime(record.finished);
    if (created.isValid()) {
      row.created = created.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
      if (finished.isValid()) row.durationSec = created.msecsTo(finished) / 1000.0;
    } else {
      row.created = QString::fromStdString(record.created);
    }
    row.record = std::move(record);
    rows_.push_back(std::move(row));
  }
  endResetModel();
}

const store::SessionRecord* SessionTableModel::sessionAt(int row) const {
  if (row < 0 || row >= static_cast<int>(rows_.size())) return nullptr;
  return &rows_[static_cast<std::size_t>(row)].record;
}

std::optional<int> SessionTableModel::rowOf(store::SessionId id) const {
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    if (rows_[i].record.id == id) return static_cast<int>(i);
  }
  return std::nullopt;
}

int SessionTableModel::rowCount(const QModelIndex& parent) const {
  // A table: only the invisible root has children.
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int SessionTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : ColumnCount;
}

QVariant SessionTableModel::data(const QModelIndex& index, int role) const {
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
    case SessionIdRole:
      return QVariant::fromValue<qint64>(row.record.id.value);
    case Qt::TextAlignmentRole:
      switch (column) {
        case IdColumn:
        case DurationColumn:
        case AccuracyColumn:
        case ThroughputColumn:
        case SeedColumn:
          return QVariant::fromValue<int>(Qt::AlignRight | Qt::AlignVCenter);
        default:
          return QVariant::fromValue<int>(Qt::AlignLeft | Qt::AlignVCenter);
      }
    case Qt::ForegroundRole:
      if (column != StatusColumn) return {};
      if (row.record.status == "failed") return QBrush(QColor(0xc0, 0x1c, 0x28));
      if (row.record.status == "running") return QBrush(QColor(0x1a, 0x5f, 0xb4));
      if (row.record.status == "stopped") return QBrush(QColor(0x98, 0x6a, 0x00));
      return {};
    case Qt::ToolTipRole:
      switch (column) {
        case CreatedColumn:
          return QString::fromStdString(row.record.created + " (UTC)");
        case RevisionColumn:
          return QString::fromStdString(row.record.git_revision + " on " + row.record.host);
        default:
          return QString::fromStdString(row.record.name);
      }
    default:
      return {};
  }
}

QVariant SessionTableModel::display(const Row& row, int column) const {
  const store::SessionRecord& r = row.record;
  switch (column) {
    case IdColumn:
      return QVariant::fromValue<qint64>(r.id.value);
    case NameColumn:
      return QString::fromStdString(r.name);
    case StatusColumn:
      return QString::fromStdString(r.status);
    case CreatedColumn:
      return row.created;
    case DurationColumn:
      return row.durationSec ? formatDuration(*row.durationSec) : QString();
    case AccuracyColumn:
      return row.accuracy ? formatAccuracy(*row.accuracy) : QString();
    case ThroughputColumn:
      return row.samplesPerSec ? formatRate(*row.samplesPerSec) : QString();
    case SeedColumn:
      return QString::number(r.seed);
    case RevisionColumn:
      return QString::fromStdString(r.git_revision);
    default:
      return {};
  }
}

QVariant SessionTableModel::raw(const Row& row, int column) const {
  const store::SessionRecord& r = row.record;
  switch (column) {
    case IdColumn:
      return QVariant::fromValue<qint64>(r.id.value);
    case CreatedColumn:
      return QString::fromStdString(r.created);
    case DurationColumn:
      return row.durationSec ? QVariant(*row.durationSec) : QVariant();
    case AccuracyColumn:
      return row.accuracy ? QVariant(*row.accuracy) : QVariant();
    case ThroughputColumn:
      return row.samplesPerSec ? QVariant(*row.samplesPerSec) : QVariant();
    case SeedColumn:
      return QVariant::fromValue<quint64>(r.seed);
    default:
      return display(row, column);
  }
}

QVariant SessionTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) {
    return QAbstractTableModel::headerData(section, orientation, role);
  }
  if (role == Qt::DisplayRole) {
    static const char* const kTitles[ColumnCount] = {"ID",        "Name",     "Status",
                                                     "Created",   "Duration", "Test accuracy",
                                                     "Samples/s", "Seed",     "Revision"};
    return tr(kTitles[section]);
  }
  if (role == Qt::ToolTipRole) {
    switch (section) {
      case AccuracyColumn:
        return tr("Test-set accuracy after the last completed epoch");
      case ThroughputColumn:
        return tr("Training samples per second, evaluation excluded");
      case RevisionColumn:
        return tr("Git revision of the Trainbench build that ran the session");
      default:
        return {};
    }
  }
  return {};
}

}  // namespace tb::widgets
