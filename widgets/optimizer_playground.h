// OptimizerPlayground: several optimizers run on one 2-D test function, their paths drawn over its
// contour plot side by side (one panel each, on a shared extent so panels compare directly) or
// overlaid on one plot — so a user sees why Lion zig-zags or Nesterov overshoots before spending
// GPU hours. The paths come from the engine's real optimizers (optim::optimizer_path).
//
// Controls: the function, the number of steps, the start point (each function's own by default),
// and an OptimizerTable of rows (type, lr, momentum or β1, β2, Nesterov, Lookahead k) with add /
// remove; by default SGD, SGD + Nesterov, Adam and Lion. Every change recomputes, off the GUI
// thread (see recompute()). A row whose settings the engine rejects (Nesterov without momentum,
// ...) shows the engine's message in its panel instead of a path.
#pragma once

#include <QList>
#include <QString>
#include <QWidget>

#include <array>
#include <string>
#include <thread>
#include <vector>

#include "core/optim/optimizer.h"
#include "core/optim/playground.h"
#include "widgets/optimizer_path_view.h"
#include "widgets/optimizer_table.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QGridLayout;
class QLabel;
class QPushButton;
class QSpinBox;
class QStackedWidget;

namespace tb::widgets {

class OptimizerPlayground : public QWidget {
  Q_OBJECT

 public:
  static constexpr int kMaxSteps = 10000;

  explicit OptimizerPlayground(QWidget* parent = nullptr);
  ~OptimizerPlayground() override;

  void setFunction(optim::TestFunction fn);
  optim::TestFunction function() const;
  void setSteps(int steps);
  int steps() const;
  void setStart(std::array<double, 2> start);
  std::array<double, 2> start() const;
  void setOverlay(bool overlay);
  bool overlay() const;

  // The optimizer rows (see OptimizerTable). addRow returns the new row's index, or -1 when the
  // table is full.
  int rowCount() const;
  int addRow(const optim::OptimizerSpec& spec);
  void removeRow(int row);
  optim::OptimizerSpec rowSpec(int row) const;
  void setRowSpec(int row, const optim::OptimizerSpec& spec);

  // What the last recompute produced, one entry a row (its path, or its error). Always for the
  // settings shown once isBusy() is false.
  const QList<PathSeries>& series() const { return series_; }
  // The side-by-side panels (one a row) and the overlay plot.
  QList<OptimizerPathView*> panels() const { return panels_; }
  OptimizerPathView* overlayView() const { return overlayView_; }
  OptimizerTable* table() const { return table_; }
  QComboBox* functionBox() const { return functionBox_; }
  // Wall time of the last recompute (on the worker), in milliseconds.
  double lastComputeMs() const { return lastComputeMs_; }
  // True while a recompute is scheduled or running: series() may not match the controls yet.
  bool isBusy() const { return recomputePending_ || worker_.joinable(); }

 public slots:
  // Recomputes every row from the current settings, on a worker thread; recomputed() follows.
  // Changes call this themselves (coalesced into one call per event-loop turn).
  void recompute();

 signals:
  // New paths for the current settings are in series() and on the views.
  void recomputed();

 private:
  void onFunctionChanged();
  void rebuildPanels();
  void scheduleRecompute();
  void updateCaption();
  void apply(const QList<PathSeries>& series, double ms);

  QComboBox* functionBox_ = nullptr;
  QSpinBox* stepsBox_ = nullptr;
  QDoubleSpinBox* startX_ = nullptr;
  QDoubleSpinBox* startY_ = nullptr;
  OptimizerTable* table_ = nullptr;
  QPushButton* addButton_ = nullptr;
  QPushButton* removeButton_ = nullptr;
  QCheckBox* overlayBox_ = nullptr;
  QCheckBox* isoLinesBox_ = nullptr;
  QLabel* caption_ = nullptr;
  QLabel* timing_ = nullptr;
  QStackedWidget* stack_ = nullptr;
  QWidget* grid_ = nullptr;
  QGridLayout* gridLayout_ = nullptr;
  OptimizerPathView* overlayView_ = nullptr;
  QList<OptimizerPathView*> panels_;

  QList<PathSeries> series_;
  bool recomputePending_ = false;
  bool stale_ = false;  // settings changed while the worker ran: its result is discarded
  std::thread worker_;  // at most one; joinable while it runs or its result is unclaimed
  double lastComputeMs_ = 0.0;
};

}  // namespace tb::widgets
