#include "widgets/optimizer_table.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QPainter>
#include <QPixmap>
#include <QSignalBlocker>
#include <QSpinBox>

#include <array>
#include <utility>

namespace tb::widgets {

namespace {

using optim::TestFunction;

const std::array<const char*, 5> kTypes = {"sgd", "adam", "adamw", "rmsprop", "lion"};
const std::array<const char*, 5> kTypeNames = {"SGD", "Adam", "AdamW", "RMSProp", "Lion"};

QString typeName(const std::string& type) {
  for (std::size_t i = 0; i < kTypes.size(); ++i) {
    if (type == kTypes[i]) return QString::fromLatin1(kTypeNames[i]);
  }
  return QString::fromStdString(type);
}

bool usesBetas(const std::string& type) {
  return type != "sgd" && type != "rmsprop";
}

QString num(double v) {
  return QString::number(v, 'g', 4);
}

}  // namespace

OptimizerTable::OptimizerTable(QWidget* parent) : QTableWidget(0, 6, parent) {
  setHorizontalHeaderLabels(
      {tr("Optimizer"), tr("lr"), tr("Mom./β1"), tr("β2"), tr("Nesterov"), tr("Lookahead")});
  horizontalHeaderItem(MomentumColumn)
      ->setToolTip(tr("SGD and RMSProp: momentum. Adam, AdamW and Lion: β1."));
  horizontalHeaderItem(LookaheadColumn)
      ->setToolTip(tr("Lookahead's k (inner steps per slow update, α 0.5); off: no Lookahead"));
  verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 14);
  // Cell widgets do not size their columns: fixed widths that fit the widgets and the headers.
  for (const auto& [column, chars] :
       {std::pair{LrColumn, 8}, std::pair{MomentumColumn, 8}, std::pair{Beta2Column, 7},
        std::pair{NesterovColumn, 9}, std::pair{LookaheadColumn, 10}}) {
    setColumnWidth(column, fontMetrics().averageCharWidth() * chars + 12);
  }
  horizontalHeader()->setSectionResizeMode(TypeColumn, QHeaderView::Stretch);
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  // Tall enough for kMaxRows without scrolling, no taller: the rest of the column stays free.
  setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setFixedHeight(horizontalHeader()->sizeHint().height() +
                 kMaxRows * verticalHeader()->defaultSectionSize() + 2 * frameWidth());
  setSelectionBehavior(QAbstractItemView::SelectRows);
  setSelectionMode(QAbstractItemView::SingleSelection);
}

optim::OptimizerSpec OptimizerTable::defaultSpec(const std::string& type, TestFunction fn,
                                                 double momentum, bool nesterov) {
  optim::OptimizerSpec spec;
  spec.type = type;
  spec.momentum = 0.0;
  const int f = static_cast<int>(fn);  // rosenbrock, beale, quadratic, saddle
  if (type == "sgd") {
    spec.momentum = momentum;
    spec.nesterov = nesterov && momentum > 0.0;
    // Plain SGD diverges on Rosenbrock's walls above ~2e-3; with momentum the effective step is
    // ~10x larger, so Beale and the saddle want a 10x smaller lr there.
    static constexpr std::array<double, 4> plain = {1e-3, 1e-2, 1e-2, 1e-2};
    static constexpr std::array<double, 4> heavy = {1e-3, 1e-3, 1e-2, 1e-3};
    spec.lr = (momentum > 0.0 ? heavy : plain)[f];
  } else if (type == "adam" || type == "adamw") {
    static constexpr std::array<double, 4> lr = {0.05, 0.05, 0.05, 0.02};
    spec.lr = lr[f];
    spec.weight_decay = type == "adamw" ? 1e-2 : 0.0;
  } else if (type == "rmsprop") {
    spec.momentum = momentum;
    spec.lr = 0.01;
  } else if (type == "lion") {
    // Lion's step is lr * sign(...): its lr is the step length itself, so it stays small.
    static constexpr std::array<double, 4> lr = {0.01, 0.01, 0.02, 0.01};
    spec.lr = lr[f];
    spec.beta2 = 0.99;
  }
  return spec;
}

QString OptimizerTable::displayName(const optim::OptimizerSpec& spec) {
  QString name = typeName(spec.type);
  if (spec.type == "sgd" && spec.nesterov) {
    name += QStringLiteral(" + Nesterov");
  } else if ((spec.type == "sgd" || spec.type == "rmsprop") && spec.momentum > 0.0) {
    name += QStringLiteral(" + momentum");
  }
  if (spec.lookahead.k > 0) name += QStringLiteral(" + Lookahead");
  return name;
}

QString OptimizerTable::displayDetails(const optim::OptimizerSpec& spec) {
  QStringList parts{QStringLiteral("lr %1").arg(num(spec.lr))};
  if (usesBetas(spec.type)) {
    parts << QStringLiteral("β (%1, %2)").arg(num(spec.beta1), num(spec.beta2));
  } else if (spec.momentum > 0.0) {
    parts << QStringLiteral("momentum %1").arg(num(spec.momentum));
  }
  if (spec.weight_decay > 0.0) parts << QStringLiteral("wd %1").arg(num(spec.weight_decay));
  if (spec.lookahead.k > 0) {
    parts << QStringLiteral("k %1, α %2").arg(spec.lookahead.k).arg(num(spec.lookahead.alpha));
  }
  return parts.join(QStringLiteral(", "));
}

QColor OptimizerTable::rowColor(int row) {
  static const std::array<QColor, 8> colors = {QColor(0x1f, 0x77, 0xb4), QColor(0xff, 0x7f, 0x0e),
                                               QColor(0x2c, 0xa0, 0x2c), QColor(0xd6, 0x27, 0x28),
                                               QColor(0x94, 0x67, 0xbd), QColor(0x8c, 0x56, 0x4b),
                                               QColor(0xe3, 0x77, 0xc2), QColor(0x17, 0xbe, 0xcf)};
  return colors[static_cast<std::size_t>(row) % colors.size()];
}

std::vector<optim::OptimizerSpec> OptimizerTable::specs() const {
  std::vector<optim::OptimizerSpec> out;
  for (const Row& row : rows_) out.push_back(row.spec);
  return out;
}

void OptimizerTable::setFunction(TestFunction fn) {
  for (Row& row : rows_) {
    const auto old = defaultSpec(row.spec.type, fn_, row.spec.momentum, row.spec.nesterov);
    if (row.spec.lr == old.lr) {
      row.spec.lr = defaultSpec(row.spec.type, fn, row.spec.momentum, row.spec.nesterov).lr;
      showSpec(row);
    }
  }
  fn_ = fn;
  emit specsChanged();
}

void OptimizerTable::buildRowWidgets(Row& row) {
  row.type = new QComboBox;
  for (std::size_t i = 0; i < kTypes.size(); ++i) {
    row.type->addItem(QString::fromLatin1(kTypeNames[i]), QString::fromLatin1(kTypes[i]));
  }
  row.lr = new QDoubleSpinBox;
  row.lr->setRange(0.0, 10.0);
  row.lr->setDecimals(5);
  row.lr->setStepType(QAbstractSpinBox::AdaptiveDecimalStepType);
  row.momentum = new QDoubleSpinBox;
  row.beta2 = new QDoubleSpinBox;
  for (QDoubleSpinBox* box : {row.momentum, row.beta2}) {
    box->setRange(0.0, 0.9999);
    box->setDecimals(4);
    box->setSingleStep(0.01);
  }
  row.nesterov = new QCheckBox;
  row.nesterov->setToolTip(tr("Nesterov momentum (SGD only; needs momentum > 0)"));
  row.lookahead = new QSpinBox;
  row.lookahead->setRange(0, 100);
  row.lookahead->setSpecialValueText(tr("off"));
  // No arrow buttons: they would take half of a narrow cell; the wheel, the arrow keys and
  // typing still step and edit the values.
  for (QAbstractSpinBox* box :
       std::initializer_list<QAbstractSpinBox*>{row.lr, row.momentum, row.beta2, row.lookahead}) {
    box->setButtonSymbols(QAbstractSpinBox::NoButtons);
    box->setFrame(false);
  }
  for (QWidget* w : std::initializer_list<QWidget*>{row.type, row.lr, row.momentum, row.beta2,
                                                    row.nesterov, row.lookahead}) {
    w->setFocusPolicy(Qt::StrongFocus);  // no accidental edits while scrolling the table
  }
  connect(row.type, &QComboBox::currentIndexChanged, this,
          [this, w = row.type] { onTypeChanged(rowOf(w)); });
  const auto changed = [this](QWidget* w) {
    return [this, w] {
      readRow(rowOf(w));
      emit specsChanged();
    };
  };
  connect(row.lr, &QDoubleSpinBox::valueChanged, this, changed(row.lr));
  connect(row.momentum, &QDoubleSpinBox::valueChanged, this, changed(row.momentum));
  connect(row.beta2, &QDoubleSpinBox::valueChanged, this, changed(row.beta2));
  connect(row.nesterov, &QCheckBox::toggled, this, changed(row.nesterov));
  connect(row.lookahead, &QSpinBox::valueChanged, this, changed(row.lookahead));
}

// Writes the spec into the row's widgets (without triggering their change handlers).
void OptimizerTable::showSpec(Row& row) {
  const optim::OptimizerSpec& s = row.spec;
  const QSignalBlocker b1(row.type), b2(row.lr), b3(row.momentum), b4(row.beta2), b5(row.nesterov),
      b6(row.lookahead);
  row.type->setCurrentIndex(row.type->findData(QString::fromStdString(s.type)));
  row.lr->setValue(s.lr);
  const bool betas = usesBetas(s.type);
  row.momentum->setValue(betas ? s.beta1 : s.momentum);
  row.momentum->setToolTip(betas ? tr("β1") : tr("Momentum"));
  row.beta2->setValue(s.beta2);
  row.beta2->setEnabled(betas);
  row.nesterov->setChecked(s.nesterov);
  row.nesterov->setEnabled(s.type == "sgd");
  row.lookahead->setValue(static_cast<int>(s.lookahead.k));
}

int OptimizerTable::rowOf(const QWidget* widget) const {
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    const Row& r = rows_[i];
    if (widget == r.type || widget == r.lr || widget == r.momentum || widget == r.beta2 ||
        widget == r.nesterov || widget == r.lookahead) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

void OptimizerTable::readRow(int index) {
  if (index < 0 || index >= optimizerCount()) return;
  Row& row = rows_[static_cast<std::size_t>(index)];
  optim::OptimizerSpec& s = row.spec;
  s.lr = row.lr->value();
  if (usesBetas(s.type)) {
    s.beta1 = row.momentum->value();
    s.beta2 = row.beta2->value();
  } else {
    s.momentum = row.momentum->value();
  }
  // Not cleared when momentum is 0: the engine's own message then explains why that is invalid.
  s.nesterov = s.type == "sgd" && row.nesterov->isChecked();
  s.lookahead.k = row.lookahead->value();
}

void OptimizerTable::onTypeChanged(int index) {
  if (index < 0 || index >= optimizerCount()) return;
  Row& row = rows_[static_cast<std::size_t>(index)];
  const std::string type = row.type->currentData().toString().toStdString();
  const auto k = row.spec.lookahead.k;
  row.spec = defaultSpec(type, fn_);
  row.spec.lookahead.k = k;
  showSpec(row);
  updateRowHeaders();
  emit specsChanged();
}

int OptimizerTable::addOptimizer(const optim::OptimizerSpec& spec) {
  if (optimizerCount() >= kMaxRows) return -1;
  Row row;
  row.spec = spec;
  buildRowWidgets(row);
  showSpec(row);
  const int index = optimizerCount();
  QTableWidget::insertRow(index);
  setCellWidget(index, TypeColumn, row.type);
  setCellWidget(index, LrColumn, row.lr);
  setCellWidget(index, MomentumColumn, row.momentum);
  setCellWidget(index, Beta2Column, row.beta2);
  // A bare check box would hug the cell's left edge; centre it in a holder.
  auto* holder = new QWidget;
  auto* center = new QHBoxLayout(holder);
  center->setContentsMargins(0, 0, 0, 0);
  center->addWidget(row.nesterov, 0, Qt::AlignCenter);
  setCellWidget(index, NesterovColumn, holder);
  setCellWidget(index, LookaheadColumn, row.lookahead);
  rows_.push_back(row);
  updateRowHeaders();
  emit specsChanged();
  return index;
}

void OptimizerTable::removeOptimizer(int index) {
  if (index < 0 || index >= optimizerCount()) return;
  rows_.erase(rows_.begin() + index);
  QTableWidget::removeRow(index);  // deletes the row's cell widgets
  updateRowHeaders();
  emit specsChanged();
}

optim::OptimizerSpec OptimizerTable::spec(int index) const {
  return rows_.at(static_cast<std::size_t>(index)).spec;
}

void OptimizerTable::setSpec(int index, const optim::OptimizerSpec& spec) {
  if (index < 0 || index >= optimizerCount()) return;
  Row& row = rows_[static_cast<std::size_t>(index)];
  row.spec = spec;
  showSpec(row);
  updateRowHeaders();
  emit specsChanged();
}

// The vertical header shows each row's path colour, so the table doubles as the legend key.
void OptimizerTable::updateRowHeaders() {
  for (int i = 0; i < optimizerCount(); ++i) {
    QPixmap swatch(14, 14);
    swatch.fill(Qt::transparent);
    QPainter p(&swatch);
    p.setRenderHint(QPainter::Antialiasing);
    p.setPen(Qt::NoPen);
    p.setBrush(rowColor(i));
    p.drawEllipse(QRectF(1, 1, 12, 12));
    p.end();
    auto* item = new QTableWidgetItem(QIcon(swatch), QString::number(i + 1));
    item->setToolTip(displayName(rows_[static_cast<std::size_t>(i)].spec));
    setVerticalHeaderItem(i, item);
  }
}

}  // namespace tb::widgets
