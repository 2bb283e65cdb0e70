// KernelTableView: the kernel table of one trace (KernelTableModel) with a name filter, sorting by
// any column's value, and a "Group template instances" switch. Double-clicking a row (or Enter
// on it) asks for the row's longest launch to be shown: kernelActivated(start, end).
//
// The table (trace::kernel_table) is made on a pool thread, as the step breakdown is: a live run
// hands in a new snapshot every second, and the GUI never waits on an analysis. A new trace or a
// new option while one is running starts once more when it returns, with the newest.
#pragma once

#include <QWidget>

#include <memory>

#include "core/trace/kernel_table.h"
#include "core/trace/model.h"

class QCheckBox;
class QLabel;
class QLineEdit;
class QSortFilterProxyModel;
class QTableView;

namespace tb::widgets {

class KernelTableModel;

class KernelTableView : public QWidget {
  Q_OBJECT

 public:
  explicit KernelTableView(QWidget* parent = nullptr);
  ~KernelTableView() override;

  void setTrace(std::shared_ptr<const trace::Trace> trace);
  void setGroupTemplates(bool group);
  bool groupTemplates() const;
  void setIncludeCopies(bool include);
  bool includeCopies() const;

  bool isIdle() const { return !busy_ && !pending_; }
  KernelTableModel* model() const { return model_; }
  QSortFilterProxyModel* proxy() const { return proxy_; }
  QTableView* table() const { return table_; }
  QLineEdit* filterEdit() const { return filter_; }
  QCheckBox* groupCheckBox() const { return group_; }
  QCheckBox* copiesCheckBox() const { return copies_; }
  // "67 kernels, 591.532 ms of device time" (and how many the filter leaves), or why none.
  QString statusText() const;

 signals:
  // A row was activated: the time range of its longest launch, for the timeline to show.
  void kernelActivated(qint64 start_ns, qint64 end_ns);
  // A new table is on screen.
  void tableReady();

 private:
  struct Guard;
  void start();
  void display(std::shared_ptr<const trace::Trace> trace, std::vector<trace::KernelRow> rows,
               const QString& error);
  void activate(const QModelIndex& proxyIndex);
  void updateStatus();

  QLineEdit* filter_ = nullptr;
  QCheckBox* group_ = nullptr;
  QCheckBox* copies_ = nullptr;
  QLabel* status_ = nullptr;
  QTableView* table_ = nullptr;
  KernelTableModel* model_ = nullptr;
  QSortFilterProxyModel* proxy_ = nullptr;

  std::shared_ptr<const trace::Trace> trace_;  // the newest trace handed in
  std::shared_ptr<const trace::Trace> shown_;  // the trace the rows on screen were made from
  QString error_;                              // why the table on screen is empty, if it failed
  bool busy_ = false;
  bool pending_ = false;
  std::shared_ptr<Guard> guard_;
};

}  // namespace tb::widgets
