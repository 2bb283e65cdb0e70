// OptimizerTable: the playground's optimizer rows, one OptimizerSpec each, edited in place: type,
// lr, momentum (SGD, RMSProp) or β1 (Adam, AdamW, Lion), β2, Nesterov, Lookahead k. The
// vertical header shows each row's path colour, so the table doubles as the plots' colour key.
//
// Each row keeps its whole spec (eps, alpha, weight decay, ... that the table does not show), and
// the columns write only their own fields into it. Values are not validated here: an impossible
// combination (Nesterov with momentum 0) is passed on so the engine's own message explains it.
#pragma once

#include <QColor>
#include <QString>
#include <QTableWidget>

#include <string>
#include <vector>

#include "core/optim/optimizer.h"
#include "core/optim/playground.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QSpinBox;

namespace tb::widgets {

class OptimizerTable : public QTableWidget {
  Q_OBJECT

 public:
  enum Column {
    TypeColumn,
    LrColumn,
    MomentumColumn,
    Beta2Column,
    NesterovColumn,
    LookaheadColumn
  };
  static constexpr int kMaxRows = 8;

  explicit OptimizerTable(QWidget* parent = nullptr);

  // A sensible spec of `type` for `fn`: an lr that makes the default view instructive (found by
  // running each one: SGD needs 1e-3 on Rosenbrock's steep walls, Adam ~0.05, Lion ~0.01).
  // momentum: SGD's / RMSProp's momentum; nesterov applies to SGD with momentum > 0.
  static optim::OptimizerSpec defaultSpec(const std::string& type, optim::TestFunction fn,
                                          double momentum = 0.0, bool nesterov = false);
  // "SGD + Nesterov" / "Adam + Lookahead", and "lr 0.001, momentum 0.9" / "lr 0.05, β (0.9,
  // 0.999)".
  static QString displayName(const optim::OptimizerSpec& spec);
  static QString displayDetails(const optim::OptimizerSpec& spec);
  // The i-th row's path colour (matplotlib's tab10: the colours ML engineers already read).
  static QColor rowColor(int row);

  int optimizerCount() const { return static_cast<int>(rows_.size()); }
  // Appends a row (ignored beyond kMaxRows); returns its index, or -1.
  int addOptimizer(const optim::OptimizerSpec& spec);
  void removeOptimizer(int row);
  optim::OptimizerSpec spec(int row) const;
  void setSpec(int row, const optim::OptimizerSpec& spec);
  std::vector<optim::OptimizerSpec> specs() const;

  // The function the rows' default lrs are for. Rows still at the old function's default lr move
  // to the new one's; an lr the user typed is theirs and stays.
  void setFunction(optim::TestFunction fn);

 signals:
  // A row was added, removed or edited.
  void specsChanged();

 private:
  struct Row {
    QComboBox* type = nullptr;
    QDoubleSpinBox* lr = nullptr;
    QDoubleSpinBox* momentum = nullptr;  // momentum for sgd/rmsprop, β1 for adam/adamw/lion
    QDoubleSpinBox* beta2 = nullptr;
    QCheckBox* nesterov = nullptr;
    QSpinBox* lookahead = nullptr;
    optim::OptimizerSpec spec;
  };

  void buildRowWidgets(Row& row);
  void showSpec(Row& row);
  int rowOf(const QWidget* widget) const;
  void readRow(int row);
  void onTypeChanged(int row);
  void updateRowHeaders();

  std::vector<Row> rows_;
  optim::TestFunction fn_ = optim::TestFunction::rosenbrock;
};

}  // namespace tb::widgets
