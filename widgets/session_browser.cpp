#include "widgets/session_browser.h"

#include <QAction>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QItemSelectionModel>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMenu>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSplitter>
#include <QTableView>
#include <QThread>
#include <QToolButton>
#include <QTreeWidget>
#include <QVBoxLayout>

#include <algorithm>

#include "core/store/integrity.h"
#include "widgets/session_browser_model.h"

namespace tb::widgets {

namespace {

// What a group item in the tree selects (stored in its data roles).
enum GroupKind { AllGroup, ProjectGroupKind, SweepGroupKind, TagGroupKind, HeadingGroup };
constexpr int kKindRole = Qt::UserRole + 1;
constexpr int kValueRole = Qt::UserRole + 2;

QString withCount(const QString& label, std::int64_t count) {
  return QStringLiteral("%1  (%2)").arg(label, QLocale().toString(static_cast<qint64>(count)));
}

}  // namespace

SessionBrowser::SessionBrowser(QWidget* parent) : QWidget(parent) {
  model_ = new SessionBrowserModel(this);
  connect(model_, &SessionBrowserModel::errorOccurred, this, &SessionBrowser::showError);
  buildUi();
  filterTimer_.setSingleShot(true);
  filterTimer_.setInterval(150);
  connect(&filterTimer_, &QTimer::timeout, this, &SessionBrowser::applyQuery);
  notesTimer_.setSingleShot(true);
  notesTimer_.setInterval(600);
  connect(&notesTimer_, &QTimer::timeout, this, &SessionBrowser::saveNotes);
  updateActions();
}

SessionBrowser::~SessionBrowser() {
  stopIntegrityCheck();
}

void SessionBrowser::stopIntegrityCheck() {
  if (checker_ == nullptr) return;
  cancelCheck_ = true;
  checker_->wait();
  delete checker_;
  checker_ = nullptr;
  cancelCheck_ = false;
}

void SessionBrowser::buildUi() {
  banner_ = new QLabel;
  banner_->setWordWrap(true);
  banner_->setStyleSheet(QStringLiteral(
      "QLabel { background: #fff4ce; color: #5c4400; padding: 6px; border-radius: 3px; }"));
  banner_->hide();

  filter_ = new QLineEdit;
  filter_->setPlaceholderText(
      tr("Filter: words in name, project, dataset, model, optimizer, tags or notes"));
  filter_->setClearButtonEnabled(true);
  connect(filter_, &QLineEdit::textChanged, this, [this] { filterTimer_.start(); });

  chipBar_ = new QWidget;
  chips_ = new QHBoxLayout(chipBar_);
  chips_->setContentsMargins(0, 0, 0, 0);
  chipBar_->hide();

  count_ = new QLabel;
  count_->setStyleSheet(QStringLiteral("color: palette(mid);"));

  table_ = new QTableView;
  table_->setModel(model_);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  table_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
  table_->setAlternatingRowColors(true);
  table_->setWordWrap(false);
  table_->setSortingEnabled(true);
  table_->sortByColumn(SessionBrowserModel::IdColumn, Qt::DescendingOrder);
  table_->verticalHeader()->hide();
  table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 8);
  // Fixed widths, never ResizeToContents: sizing to contents reads every row, which is exactly
  // what a lazily read model of 10,000 sessions must not do.
  QHeaderView* header = table_->horizontalHeader();
  header->setSectionResizeMode(QHeaderView::Interactive);
  header->setStretchLastSection(false);
  const int character = table_->fontMetrics().averageCharWidth();
  const int widths[SessionBrowserModel::ColumnCount] = {28, 21, 11, 14, 14, 8, 11,
                                                        10, 11, 11, 13, 16, 7};
  for (int c = 0; c < SessionBrowserModel::ColumnCount; ++c) {
    header->resizeSection(c, widths[c] * character);
  }
  header->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(header, &QHeaderView::customContextMenuRequested, this, [this, header](QPoint pos) {
    const int column = header->logicalIndexAt(pos);
    if (column < 0) return;
    QMenu menu;
    menu.addAction(tr("Filter “%1”…").arg(model_->headerData(column, Qt::Horizontal).toString()),
                   this, [this, column] { editColumnFilter(column); });
    if (!columnFilters_.empty()) {
      menu.addAction(tr("Clear column filters"), this, &SessionBrowser::clearColumnFilters);
    }
    menu.exec(header->mapToGlobal(pos));
  });
  connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
          &SessionBrowser::onSelectionChanged);
  connect(table_, &QTableView::activated, this, [this](const QModelIndex& index) {
    emit sessionActivated(index.data(SessionBrowserModel::SessionIdRole).toLongLong());
  });
  connect(model_, &QAbstractItemModel::modelReset, this, [this] {
    count_->setText(tr("%1 sessions").arg(QLocale().toString(model_->rowCount())));
    onSelectionChanged();
  });
  connect(model_, &QAbstractItemModel::dataChanged, this, [this] {
    rebuildGroups();
    emit sessionsChanged();
  });

  groups_ = new QTreeWidget;
  groups_->setHeaderHidden(true);
  groups_->setRootIsDecorated(true);
  groups_->setMinimumWidth(160);
  connect(groups_, &QTreeWidget::currentItemChanged, this,
          [this](QTreeWidgetItem* item) { selectGroup(item); });

  compare_ = new QPushButton(tr("Compare"));
  compare_->setToolTip(
      tr("Compare the selected sessions side by side (2 to %1)").arg(kMaxCompared));
  connect(compare_, &QPushButton::clicked, this, &SessionBrowser::requestCompare);
  delete_ = new QPushButton(tr("Delete"));
  delete_->setToolTip(tr("Delete the selected sessions (Del); undo until the window closes"));
  connect(delete_, &QPushButton::clicked, this, &SessionBrowser::deleteSelected);
  auto* refreshButton = new QPushButton(tr("Refresh"));
  connect(refreshButton, &QPushButton::clicked, this, &SessionBrowser::refresh);

  auto* deleteAction = new QAction(this);
  deleteAction->setShortcut(QKeySequence::Delete);
  deleteAction->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  connect(deleteAction, &QAction::triggered, this, &SessionBrowser::deleteSelected);
  table_->addAction(deleteAction);
  auto* undoAction = new QAction(this);
  undoAction->setShortcut(QKeySequence::Undo);
  undoAction->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  connect(undoAction, &QAction::triggered, this, &SessionBrowser::undoDelete);
  table_->addAction(undoAction);

  undoLabel_ = new QLabel;
  undo_ = new QPushButton(tr("Undo"));
  connect(undo_, &QPushButton::clicked, this, &SessionBrowser::undoDelete);
  undoBar_ = new QWidget;
  auto* undoLayout = new QHBoxLayout(undoBar_);
  undoLayout->setContentsMargins(0, 0, 0, 0);
  undoLayout->addWidget(undoLabel_, 1);
  undoLayout->addWidget(undo_);
  undoBar_->hide();

  detailsTitle_ = new QLabel(tr("No session selected"));
  detailsTitle_->setStyleSheet(QStringLiteral("font-weight: bold;"));
  tags_ = new QLineEdit;
  tags_->setPlaceholderText(tr("tags, separated by commas"));
  connect(tags_, &QLineEdit::editingFinished, this, &SessionBrowser::saveTags);
  notes_ = new QPlainTextEdit;
  notes_->setPlaceholderText(tr("Notes: what this run tried, what it showed"));
  connect(notes_, &QPlainTextEdit::textChanged, this, [this] {
    if (detailsShown_.valid()) notesTimer_.start();
  });

  auto* details = new QWidget;
  auto* detailsLayout = new QVBoxLayout(details);
  detailsLayout->setContentsMargins(0, 0, 0, 0);
  detailsLayout->addWidget(detailsTitle_);
  detailsLayout->addWidget(new QLabel(tr("Tags")));
  detailsLayout->addWidget(tags_);
  detailsLayout->addWidget(new QLabel(tr("Notes")));
  detailsLayout->addWidget(notes_, 1);

  auto* bar = new QHBoxLayout;
  bar->addWidget(filter_, 1);
  bar->addWidget(count_);
  bar->addWidget(refreshButton);
  bar->addWidget(delete_);
  bar->addWidget(compare_);

  auto* center = new QWidget;
  auto* centerLayout = new QVBoxLayout(center);
  centerLayout->setContentsMargins(0, 0, 0, 0);
  centerLayout->addLayout(bar);
  centerLayout->addWidget(chipBar_);
  centerLayout->addWidget(undoBar_);
  centerLayout->addWidget(table_, 1);

  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(groups_);
  split->addWidget(center);
  split->addWidget(details);
  split->setStretchFactor(0, 0);
  split->setStretchFactor(1, 1);
  split->setStretchFactor(2, 0);
  split->setSizes({190, 900, 260});
  split->setChildrenCollapsible(false);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(8, 8, 8, 4);
  layout->addWidget(banner_);
  layout->addWidget(split, 1);
}

bool SessionBrowser::openDatabase(const std::filesystem::path& path) {
  stopIntegrityCheck();
  model_->setStore(nullptr);
  store_.reset();
  readOnlyReason_.clear();
  deleted_.clear();
  try {
    auto opened = store::SessionStore::open_for_browsing(path);
    store_ = std::move(opened.store);
    readOnlyReason_ = QString::fromStdString(opened.read_only_reason);
    if (!store_->read_only()) {
      // Deleted in a window that ended without closing (a crash): its undo is gone with it.
      store::delete_sessions(*store_, store::trashed_sessions(*store_));
    }
  } catch (const std::exception& error) {
    store_.reset();
    banner_->setText(
        tr("Cannot read the session database: %1").arg(QString::fromUtf8(error.what())));
    banner_->show();
    rebuildGroups();
    updateActions();
    return false;
  }
  banner_->setVisible(!readOnlyReason_.isEmpty());
  banner_->setText(readOnlyReason_.isEmpty()
                       ? QString()
                       : tr("Read-only, nothing can be changed: %1").arg(readOnlyReason_));
  model_->setStore(store_.get());
  rebuildGroups();
  updateActions();
  if (!store_->read_only()) {
    checker_ = QThread::create([this, path] {
      const QString finding = QString::fromStdString(store::check_integrity(path, &cancelCheck_));
      // Delivered on the GUI thread; dropped with this object if it is gone by then.
      QMetaObject::invokeMethod(
          this, [this, path, finding] { onIntegrityChecked(path, finding); }, Qt::QueuedConnection);
    });
    checker_->start(QThread::LowPriority);
  }
  return true;
}

void SessionBrowser::onIntegrityChecked(const std::filesystem::path& path, const QString& finding) {
  if (checker_ != nullptr) {
    checker_->wait();
    delete checker_;
    checker_ = nullptr;
  }
  if (finding.isEmpty() || store_ == nullptr || store_->path() != path) return;
  model_->setStore(nullptr);
  store_.reset();
  try {
    store_ = std::make_unique<store::SessionStore>(path, store::SessionStore::Mode::read_only);
  } catch (const std::exception&) {
    store_.reset();
  }
  readOnlyReason_ = finding;
  banner_->setText(tr("Read-only, nothing can be changed: the database is damaged, so nothing "
                      "more is written into it. Copy the file and recover it with sqlite3's "
                      ".recover. %1")
                       .arg(finding));
  banner_->show();
  model_->setStore(store_.get());
  rebuildGroups();
  showDetails();
  updateActions();
}

bool SessionBrowser::readOnly() const {
  return store_ == nullptr || store_->read_only();
}

QString SessionBrowser::bannerText() const {
  return banner_->isHidden() ? QString() : banner_->text();
}

void SessionBrowser::refresh() {
  const auto selected = selectedSessions();
  model_->refresh();
  rebuildGroups();
  // Re-select what was selected, where it is on a page already read (the first, usually).
  for (store::SessionId id : selected) {
    if (const auto row = model_->loadedRowOf(id)) {
      table_->selectionModel()->select(model_->index(*row, 0),
                                       QItemSelectionModel::Select | QItemSelectionModel::Rows);
    }
  }
}

void SessionBrowser::setTextFilter(const QString& text) {
  if (filter_->text() != text) filter_->setText(text);
  filterTimer_.stop();
  applyQuery();
}

void SessionBrowser::setColumnFilter(int column, const QString& text) {
  const auto storeColumn = SessionBrowserModel::storeColumn(column);
  std::erase_if(columnFilters_, [&](const auto& f) { return f.column == storeColumn; });
  if (!text.trimmed().isEmpty()) columnFilters_.push_back({storeColumn, text.toStdString()});
  rebuildFilterChips();
  applyQuery();
}

void SessionBrowser::clearColumnFilters() {
  columnFilters_.clear();
  rebuildFilterChips();
  applyQuery();
}

void SessionBrowser::editColumnFilter(int column) {
  const QString title = model_->headerData(column, Qt::Horizontal).toString();
  const auto storeColumn = SessionBrowserModel::storeColumn(column);
  QString current;
  for (const auto& f : columnFilters_) {
    if (f.column == storeColumn) current = QString::fromStdString(f.text);
  }
  bool ok = false;
  const QString text = QInputDialog::getText(
      this, tr("Filter “%1”").arg(title),
      tr("Sessions whose “%1” contains (numbers also take > 0.85, <= 100, = 3):").arg(title),
      QLineEdit::Normal, current, &ok);
  if (ok) setColumnFilter(column, text);
}

void SessionBrowser::rebuildFilterChips() {
  while (QLayoutItem* item = chips_->takeAt(0)) {
    delete item->widget();
    delete item;
  }
  for (int column = 0; column < SessionBrowserModel::ColumnCount; ++column) {
    const auto storeColumn = SessionBrowserModel::storeColumn(column);
    for (const auto& f : columnFilters_) {
      if (f.column != storeColumn) continue;
      auto* chip = new QToolButton;
      chip->setText(QStringLiteral("%1: %2  ✕")
                        .arg(model_->headerData(column, Qt::Horizontal).toString(),
                             QString::fromStdString(f.text)));
      chip->setToolTip(tr("Remove this filter"));
      connect(chip, &QToolButton::clicked, this, [this, column] { setColumnFilter(column, {}); });
      chips_->addWidget(chip);
    }
  }
  chips_->addStretch(1);
  chipBar_->setVisible(!columnFilters_.empty());
}

void SessionBrowser::selectGroup(QTreeWidgetItem* item) {
  groupQuery_ = {};
  if (item != nullptr) {
    const int kind = item->data(0, kKindRole).toInt();
    const QVariant value = item->data(0, kValueRole);
    if (kind == ProjectGroupKind) groupQuery_.project = value.toString().toStdString();
    if (kind == SweepGroupKind) groupQuery_.sweep = store::SweepId(value.toLongLong());
    if (kind == TagGroupKind) groupQuery_.tag = value.toString().toStdString();
  }
  applyQuery();
}

void SessionBrowser::applyQuery() {
  store::SessionQuery query = groupQuery_;
  query.text = filter_->text().toStdString();
  query.column_filters = columnFilters_;
  model_->setQuery(std::move(query));
}

void SessionBrowser::rebuildGroups() {
  // Rebuilt without signals: the current group stays the query's, whatever the tree does.
  const QSignalBlocker blocker(groups_);
  QString currentKey;
  if (auto* current = groups_->currentItem()) {
    currentKey = current->data(0, kKindRole).toString() + QLatin1Char('/') +
                 current->data(0, kValueRole).toString();
  }
  groups_->clear();
  if (store_ == nullptr) return;
  auto add = [&](QTreeWidgetItem* parent, const QString& label, int kind, const QVariant& value) {
    auto* item = parent ? new QTreeWidgetItem(parent) : new QTreeWidgetItem(groups_);
    item->setText(0, label);
    item->setData(0, kKindRole, kind);
    item->setData(0, kValueRole, value);
    if (kind == HeadingGroup) item->setFlags(Qt::ItemIsEnabled);
    if (currentKey == QString::number(kind) + QLatin1Char('/') + value.toString()) {
      groups_->setCurrentItem(item);
    }
    return item;
  };
  try {
    add(nullptr, withCount(tr("All sessions"), store::count_sessions(*store_, {})), AllGroup, {});
    auto* projects = add(nullptr, tr("Projects"), HeadingGroup, {});
    for (const auto& group : store::list_projects(*store_)) {
      const QString name =
          group.project.empty() ? tr("(no project)") : QString::fromStdString(group.project);
      add(projects, withCount(name, group.sessions), ProjectGroupKind,
          QString::fromStdString(group.project));
    }
    const auto sweeps = store::list_sweeps(*store_);
    if (!sweeps.empty()) {
      auto* heading = add(nullptr, tr("Sweeps"), HeadingGroup, {});
      for (const auto& sweep : sweeps) {
        auto* item = add(heading, withCount(QString::fromStdString(sweep.name), sweep.sessions),
                         SweepGroupKind, QVariant::fromValue<qint64>(sweep.id.value));
        item->setToolTip(0, QString::fromStdString(sweep.grid_json));
      }
    }
    const auto tags = store::list_tags(*store_);
    if (!tags.empty()) {
      auto* heading = add(nullptr, tr("Tags"), HeadingGroup, {});
      for (const auto& tag : tags) {
        add(heading, withCount(QString::fromStdString(tag.project), tag.sessions), TagGroupKind,
            QString::fromStdString(tag.project));
      }
    }
  } catch (const std::exception& error) {
    showError(QString::fromUtf8(error.what()));
  }
  groups_->expandAll();
}

std::vector<store::SessionId> SessionBrowser::selectedSessions() const {
  std::vector<store::SessionId> ids;
  for (const QModelIndex& index : table_->selectionModel()->selectedRows()) {
    ids.emplace_back(index.data(SessionBrowserModel::SessionIdRole).toLongLong());
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

void SessionBrowser::onSelectionChanged() {
  saveNotes();
  showDetails();
  updateActions();
}

void SessionBrowser::showDetails() {
  const QModelIndexList rows = table_->selectionModel()->selectedRows();
  std::optional<store::SessionOverview> overview;
  if (rows.size() == 1) overview = model_->overviewAt(rows.front().row());
  const QSignalBlocker notesBlocker(notes_);
  const QSignalBlocker tagsBlocker(tags_);
  detailsShown_ = overview ? overview->id : store::SessionId{};
  const bool editable = overview && !readOnly();
  notes_->setEnabled(editable);
  tags_->setEnabled(editable);
  if (!overview) {
    detailsTitle_->setText(rows.isEmpty() ? tr("No session selected")
                                          : tr("%1 sessions selected").arg(rows.size()));
    notes_->clear();
    tags_->clear();
    return;
  }
  detailsTitle_->setText(QString::fromStdString(overview->name));
  notes_->setPlainText(QString::fromStdString(overview->notes));
  QStringList tags;
  for (const auto& tag : overview->tags) tags << QString::fromStdString(tag);
  tags_->setText(tags.join(QStringLiteral(", ")));
}

void SessionBrowser::saveNotes() {
  notesTimer_.stop();
  if (!detailsShown_.valid() || readOnly()) return;
  const std::string text = notes_->toPlainText().toStdString();
  try {
    const auto current = store::session_overview(*store_, detailsShown_);
    if (!current || current->notes == text) return;
    store::set_notes(*store_, detailsShown_, text);
  } catch (const std::exception& error) {
    showError(QString::fromUtf8(error.what()));
    return;
  }
  // The name column marks sessions with notes; the selection is kept by a page re-read, not a
  // reset, so typing never loses the row.
  if (const auto row = model_->loadedRowOf(detailsShown_)) model_->rowChanged(*row);
}

void SessionBrowser::saveTags() {
  if (!detailsShown_.valid() || readOnly()) return;
  std::vector<std::string> tags;
  for (const QString& tag : tags_->text().split(QLatin1Char(','), Qt::SkipEmptyParts)) {
    tags.push_back(tag.trimmed().toStdString());
  }
  try {
    store::set_tags(*store_, detailsShown_, tags);
  } catch (const std::exception& error) {
    showError(QString::fromUtf8(error.what()));
    return;
  }
  if (const auto row = model_->loadedRowOf(detailsShown_)) model_->rowChanged(*row);
  rebuildGroups();
  emit sessionsChanged();
}

void SessionBrowser::deleteSelected() {
  if (readOnly()) return;
  std::vector<store::SessionId> ids = selectedSessions();
  std::erase(ids, live_);  // a running session is the engine's until it finishes
  if (ids.empty()) return;
  saveNotes();
  try {
    store::trash_sessions(*store_, ids);
  } catch (const std::exception& error) {
    showError(QString::fromUtf8(error.what()));
    return;
  }
  deleted_.push_back(ids);
  undoLabel_->setText(ids.size() == 1 ? tr("Deleted 1 session.")
                                      : tr("Deleted %1 sessions.").arg(ids.size()));
  undoBar_->show();
  refresh();
  emit sessionsChanged();
}

void SessionBrowser::undoDelete() {
  if (deleted_.empty() || readOnly()) return;
  const std::vector<store::SessionId> ids = deleted_.back();
  try {
    store::restore_sessions(*store_, ids);
  } catch (const std::exception& error) {
    showError(QString::fromUtf8(error.what()));
    return;
  }
  deleted_.pop_back();
  undoLabel_->setText(deleted_.empty() ? QString()
                                       : tr("%1 more deletes can be undone.").arg(deleted_.size()));
  undoBar_->setVisible(!deleted_.empty());
  refresh();
  emit sessionsChanged();
}

void SessionBrowser::purgeTrash() {
  if (readOnly()) return;
  saveNotes();
  try {
    store::delete_sessions(*store_, store::trashed_sessions(*store_));
  } catch (const std::exception& error) {
    showError(QString::fromUtf8(error.what()));
    return;
  }
  deleted_.clear();
  undoBar_->hide();
}

void SessionBrowser::requestCompare() {
  const auto ids = selectedSessions();
  if (ids.size() < 2 || ids.size() > static_cast<std::size_t>(kMaxCompared)) return;
  QList<qint64> list;
  for (store::SessionId id : ids) list << id.value;
  emit compareRequested(list);
}

void SessionBrowser::updateActions() {
  const auto selected = table_->selectionModel()->selectedRows().size();
  compare_->setEnabled(selected >= 2 && selected <= kMaxCompared);
  compare_->setText(selected >= 2 ? tr("Compare %1").arg(selected) : tr("Compare"));
  delete_->setEnabled(selected > 0 && !readOnly());
}

void SessionBrowser::showError(const QString& message) {
  banner_->setText(message);
  banner_->show();
}

}  // namespace tb::widgets
