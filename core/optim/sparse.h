// Row-sparse updates for tables whose gradient is a ds::RowSparseGrad (Embedding tables): only
// the rows the batch touched are read and written, so a step costs O(touched rows x dim), not
// O(table) (and EmbeddingBag builds the gradient from the batch's entries alone, so backward is
// not sized by the table either). The dense parameters of the same model keep the ordinary
// optimizer (make_optimizer); the runner steps both. CPU only: the tables are host tensors (a CUDA
// path is a later issue).
//
// Semantics, per touched row r with gradient row g (untouched rows do not change at all):
//   sgd  (torch.optim.SGD without momentum, its sparse-gradient case; weight decay is applied
//        lazily, to touched rows only — a deliberate difference: a decay of every row each step
//        would make the step O(table)):
//          g' = g + weight_decay * p[r];  p[r] = p[r] - lr * g'
//        Without weight decay this is exactly the dense SGD step (a dense gradient is zero in
//        untouched rows, which then do not move).
//   adam (torch.optim.SparseAdam, "lazy Adam"): the moments of touched rows only are updated, with
//        the optimizer's global step t (counted once per step(), as torch counts it):
//          m[r] += (1 - beta1) * (g - m[r]);  v[r] += (1 - beta2) * (g^2 - v[r])
//          p[r] -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m[r] / (sqrt(v[r]) + eps)
// Rejected, naming the project field: momentum and Nesterov (optimizer.momentum, ...; dampening
// has no effect without momentum),
// adam's weight decay and amsgrad (SparseAdam has neither), adamw, rmsprop, lion (optimizer.type)
// and Lookahead (optimizer.lookahead.k).
#pragma once

#include <memory>
#include <vector>

#include "core/nn/sparse.h"
#include "core/optim/optimizer.h"

namespace tb::optim {

class SparseOptimizer {
 public:
  virtual ~SparseOptimizer() = default;
  virtual std::string name() const = 0;  // "sparse_sgd", "sparse_adam"
  // Applies one update from the row-sparse gradients backward() left in the tables.
  virtual void step() = 0;
  // Every group's lr becomes its base lr times factor (the schedule, as for Optimizer).
  virtual void set_lr_factor(double factor) = 0;
  // For checkpoints, as Optimizer::state(): the step count and, for adam, "<table>.exp_avg" and
  // "<table>.exp_avg_sq" per table (full [rows x dim], untouched rows included); sgd keeps none.
  virtual OptimizerState state() const = 0;
  // Restores what state() returned; throws tb::Error naming the buffer when one is missing or
  // its size does not fit the table. Nothing changes on failure.
  virtual void load_state(const OptimizerState& state) = 0;
};

// What spec cannot do with row-sparse gradients: {dotted project field, message}; an empty field
// when it can. The project file checks this when it is read, make_sparse_optimizer again.
struct SparseSpecProblem {
  std::string field;  // "optimizer.momentum"
  std::string message;
};
SparseSpecProblem check_sparse_spec(const OptimizerSpec& spec);

// Throws tb::Error naming the setting when spec is not supported with row-sparse gradients (see
// above) or out of range.
std::unique_ptr<SparseOptimizer> make_sparse_optimizer(std::vector<nn::SparseParameter*> params,
                                                       const OptimizerSpec& spec);

}  // namespace tb::optim
