#include "widgets/kernel_table_view.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QThreadPool>
#include <QVBoxLayout>

#include <exception>
#include <mutex>

#include "widgets/kernel_table_model.h"
#include "widgets/timeline_geometry.h"

namespace tb::widgets {

// The pool thread posts its result only while the view is alive (see TimelineView::Guard).
struct KernelTableView::Guard {
  std::mutex mutex;
  KernelTableView* view = nullptr;
};

KernelTableView::KernelTableView(QWidget* parent)
    : QWidget(parent), guard_(std::make_shared<Guard>()) {
  guard_->view = this;

  filter_ = new QLineEdit(this);
  filter_->setPlaceholderText(tr("Filter kernels by name"));
  filter_->setClearButtonEnabled(true);
  group_ = new QCheckBox(tr("Group template instances"), this);
  group_->setToolTip(
      tr("One row for all instances of a kernel template: names without their "
         "template arguments and parameter lists"));
  copies_ = new QCheckBox(tr("Copies and memsets"), this);
  copies_->setToolTip(tr("Rows for memcpy and memset work too"));
  status_ = new QLabel(this);
  filter_->setMinimumWidth(160);
  auto* bar = new QHBoxLayout;
  bar->addWidget(filter_, 1);
  bar->addWidget(group_);
  bar->addWidget(copies_);

  model_ = new KernelTableModel(this);
  proxy_ = new QSortFilterProxyModel(this);
  proxy_->setSourceModel(model_);
  proxy_->setSortRole(KernelTableModel::RawValueRole);
  proxy_->setFilterKeyColumn(KernelTableModel::NameColumn);
  proxy_->setFilterCaseSensitivity(Qt::CaseInsensitive);
  table_ = new QTableView(this);
  table_->setModel(proxy_);
  // No column sorted at first: the model's own order, the longest total first.
  table_->horizontalHeader()->setSortIndicator(-1, Qt::DescendingOrder);
  table_->setSortingEnabled(true);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->setVisible(false);
  table_->setWordWrap(false);
  // Kernel names run to hundreds of characters, their identifier first: a fixed, resizable name
  // column cut at the right, the tooltip holding the whole name; the numbers fit their contents.
  table_->setTextElideMode(Qt::ElideRight);
  QHeaderView* header = table_->horizontalHeader();
  header->setSectionResizeMode(QHeaderView::ResizeToContents);
  header->setSectionResizeMode(KernelTableModel::NameColumn, QHeaderView::Interactive);
  header->resizeSection(KernelTableModel::NameColumn, 320);
  header->setMinimumSectionSize(40);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addLayout(bar);
  layout->addWidget(table_, 1);
  layout->addWidget(status_);

  connect(filter_, &QLineEdit::textChanged, this, [this](const QString& text) {
    proxy_->setFilterFixedString(text);
    updateStatus();
  });
  connect(group_, &QCheckBox::toggled, this, [this] { start(); });
  connect(copies_, &QCheckBox::toggled, this, [this] { start(); });
  // activated: a double-click, or Enter on the current row.
  connect(table_, &QTableView::activated, this, &KernelTableView::activate);
  updateStatus();
}

KernelTableView::~KernelTableView() {
  std::lock_guard lock(guard_->mutex);
  guard_->view = nullptr;
}

void KernelTableView::setTrace(std::shared_ptr<const trace::Trace> trace) {
  trace_ = std::move(trace);
  start();
}

void KernelTableView::setGroupTemplates(bool group) {
  group_->setChecked(group);
}

bool KernelTableView::groupTemplates() const {
  return group_->isChecked();
}

void KernelTableView::setIncludeCopies(bool include) {
  copies_->setChecked(include);
}

bool KernelTableView::includeCopies() const {
  return copies_->isChecked();
}

void KernelTableView::start() {
  if (busy_) {
    pending_ = true;  // the newest trace and options run when the current table returns
    return;
  }
  pending_ = false;
  if (!trace_) {
    display(nullptr, {}, {});
    return;
  }
  busy_ = true;
  const trace::KernelTableOptions options{.include_copies = copies_->isChecked(),
                                          .group_templates = group_->isChecked()};
  QThreadPool::globalInstance()->start([guard = guard_, trace = trace_, options] {
    auto rows = std::make_shared<std::vector<trace::KernelRow>>();
    QString error;
    try {
      *rows = trace::kernel_table(*trace, options);
    } catch (const std::exception& e) {
      rows->clear();
      error = QString::fromUtf8(e.what());
    }
    std::lock_guard lock(guard->mutex);
    if (guard->view == nullptr) return;
    QMetaObject::invokeMethod(
        guard->view,
        [view = guard->view, trace, rows, error] {
          view->busy_ = false;
          // A newer trace or option is waiting: this table is already stale, make that one.
          if (view->pending_) {
            view->start();
          } else {
            view->display(trace, std::move(*rows), error);
          }
        },
        Qt::QueuedConnection);
  });
}

void KernelTableView::display(std::shared_ptr<const trace::Trace> trace,
                              std::vector<trace::KernelRow> rows, const QString& error) {
  shown_ = std::move(trace);
  error_ = error;
  model_->setRows(std::move(rows));
  updateStatus();
  emit tableReady();
}

void KernelTableView::activate(const QModelIndex& proxyIndex) {
  const QModelIndex index = proxy_->mapToSource(proxyIndex);
  const trace::KernelRow* row = model_->rowAt(index.row());
  if (row == nullptr || !shown_ || row->longest_span >= shown_->spans().size()) return;
  const trace::Span& span = shown_->spans()[row->longest_span];
  emit kernelActivated(span.start_ns, span.end_ns);
}

QString KernelTableView::statusText() const {
  return status_->text();
}

void KernelTableView::updateStatus() {
  if (!error_.isEmpty()) {
    status_->setText(tr("The kernel table failed: %1").arg(error_));
    return;
  }
  const auto& rows = model_->rows();
  if (rows.empty()) {
    status_->setText(shown_ ? tr("No GPU kernels in this trace") : QString());
    return;
  }
  std::int64_t total = 0;
  for (const auto& row : rows) total += row.total_ns;
  QString text = (rows.size() == 1 ? tr("1 kernel") : tr("%1 kernels").arg(rows.size())) +
                 tr(", %1 of device time")
                     .arg(QString::fromStdString(formatDuration(static_cast<double>(total))));
  if (proxy_->rowCount() != static_cast<int>(rows.size())) {
    text += tr(" (%1 shown)").arg(proxy_->rowCount());
  }
  status_->setText(text);
}

}  // namespace tb::widgets
