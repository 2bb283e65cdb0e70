// Row-sparse SGD and SparseAdam (see sparse.h). The tables are host tensors updated through
// ds views: no Backend op exists for row-sparse updates yet (CPU only, a CUDA path is later).
#include "core/optim/sparse.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "core/optim/detail.h"
#include "core/util/error.h"

namespace tb::optim {
namespace {

struct Table {
  nn::SparseParameter* param = nullptr;
  double base_lr = 0.0;
  double weight_decay = 0.0;
  std::vector<float> exp_avg;     // [rows x dim], adam only
  std::vector<float> exp_avg_sq;  // [rows x dim], adam only
};

class SparseGrouped : public SparseOptimizer {
 public:
  SparseGrouped(std::vector<nn::SparseParameter*> params, const OptimizerSpec& spec, bool adam)
      : spec_(spec) {
    for (auto* p : params) {
      Table t;
      t.param = p;
      t.base_lr = spec.lr;
      t.weight_decay = spec.weight_decay;
      for (const auto& group : spec.param_groups) {
        if (p->name.find(group.match) == std::string::npos) continue;
        if (group.lr) t.base_lr = *group.lr;
        if (group.weight_decay) t.weight_decay = *group.weight_decay;
        break;
      }
      if (adam) {
        t.exp_avg.assign(static_cast<std::size_t>(p->value.numel()), 0.0f);
        t.exp_avg_sq.assign(static_cast<std::size_t>(p->value.numel()), 0.0f);
      }
      tables_.push_back(std::move(t));
    }
  }
  void set_lr_factor(double factor) override { factor_ = factor; }
  OptimizerState state() const override {
    OptimizerState state;
    state.step = steps_;
    for (const auto& t : tables_) {
      if (t.exp_avg.empty()) continue;  // sgd
      state.tensors.emplace_back(t.param->name + ".exp_avg", t.exp_avg);
      state.tensors.emplace_back(t.param->name + ".exp_avg_sq", t.exp_avg_sq);
    }
    return state;
  }
  void load_state(const OptimizerState& state) override {
    std::vector<std::pair<std::vector<float>*, const std::vector<float>*>> copies;
    for (auto& t : tables_) {
      if (t.exp_avg.empty()) continue;
      for (auto* buffer : {&t.exp_avg, &t.exp_avg_sq}) {
        const std::string name =
            t.param->name + (buffer == &t.exp_avg ? ".exp_avg" : ".exp_avg_sq");
        const auto found = std::find_if(state.tensors.begin(), state.tensors.end(),
                                        [&](const auto& entry) { return entry.first == name; });
        if (found == state.tensors.end()) {
          throw Error("sparse optimizer state: " + name + " is missing");
        }
        if (found->second.size() != buffer->size()) {
          throw Error("sparse optimizer state: " + name + " holds " +
                      std::to_string(found->second.size()) + " values, the table " +
                      std::to_string(buffer->size()));
        }
        copies.emplace_back(buffer, &found->second);
      }
    }
    for (auto [to, from] : copies) *to = *from;
    steps_ = state.step;
  }
  void step() override {
    ++steps_;
    for (auto& t : tables_) {
      // The updates index the table by the gradient's row ids: a gradient of another shape
      // would write outside it.
      const auto& grad = t.param->grad;
      const auto& shape = t.param->value.shape();
      if (grad.num_rows() != shape[0] || grad.dim() != shape.inner()) {
        throw Error(t.param->name + ": its row-sparse gradient is [" +
                    std::to_string(grad.num_rows()) + " x " + std::to_string(grad.dim()) +
                    "], the table " + shape.str());
      }
      update(t, static_cast<float>(t.base_lr * factor_));
    }
  }

 protected:
  virtual void update(Table& table, float lr) = 0;
  OptimizerSpec spec_;
  std::int64_t steps_ = 0;

 private:
  std::vector<Table> tables_;
  double factor_ = 1.0;
};

class SparseSgd final : public SparseGrouped {
 public:
  using SparseGrouped::SparseGrouped;
  std::string name() const override { return "sparse_sgd"; }

 protected:
  void update(Table& t, float lr) override {
    const auto& grad = t.param->grad;
    const auto table = nn::host_view(t.param->value);  // [rows, dim]
    const auto dim = grad.dim();
    const auto wd = static_cast<float>(t.weight_decay);
    const auto rows = grad.row_ids();
    const auto values = grad.values();  // [nnz_rows x dim]
    for (std::size_t k = 0; k < rows.size(); ++k) {
      float* p = table.data + rows[k] * dim;
      const float* g = values.data() + static_cast<std::int64_t>(k) * dim;
      for (std::int64_t j = 0; j < dim; ++j) p[j] -= lr * (g[j] + wd * p[j]);
    }
  }
};

class SparseAdam final : public SparseGrouped {
 public:
  SparseAdam(std::vector<nn::SparseParameter*> params, const OptimizerSpec& spec)
      : SparseGrouped(std::move(params), spec, true) {}
  std::string name() const override { return "sparse_adam"; }

 protected:
  void update(Table& t, float lr) override {
    const auto& grad = t.param->grad;
    const auto table = nn::host_view(t.param->value);  // [rows, dim]
    const auto dim = grad.dim();
    const auto b1 = static_cast<float>(spec_.beta1);
    const auto b2 = static_cast<float>(spec_.beta2);
    const auto eps = static_cast<float>(spec_.eps);
    const double t_ = static_cast<double>(steps_);
    // From the float betas the moments use, as the dense Adam does, so the two agree.
    const double bc1 = 1.0 - std::pow(static_cast<double>(b1), t_);
    const double bc2 = 1.0 - std::pow(static_cast<double>(b2), t_);
    const auto step_size = static_cast<float>(lr * std::sqrt(bc2) / bc1);
    const auto rows = grad.row_ids();
    const auto values = grad.values();  // [nnz_rows x dim]
    for (std::size_t k = 0; k < rows.size(); ++k) {
      const auto offset = rows[k] * dim;
      float* p = table.data + offset;
      float* m = t.exp_avg.data() + offset;
      float* v = t.exp_avg_sq.data() + offset;
      const float* g = values.data() + static_cast<std::int64_t>(k) * dim;
      for (std::int64_t j = 0; j < dim; ++j) {
        m[j] += (1.0f - b1) * (g[j] - m[j]);
        v[j] += (1.0f - b2) * (g[j] * g[j] - v[j]);
        p[j] -= step_size * (m[j] / (std::sqrt(v[j]) + eps));
      }
    }
  }
};

}  // namespace

SparseSpecProblem check_sparse_spec(const OptimizerSpec& spec) {
  const std::string why = " is not supported with the row-sparse gradients of Embedding tables";
  if (spec.lookahead.k > 0) return {"optimizer.lookahead.k", "Lookahead" + why};
  if (spec.type == "sgd") {
    if (spec.momentum != 0.0) return {"optimizer.momentum", "SGD momentum" + why + " (set 0)"};
    if (spec.nesterov) return {"optimizer.nesterov", "Nesterov momentum" + why};
    return {};
  }
  if (spec.type == "adam") {
    if (spec.weight_decay != 0.0) {
      return {"optimizer.weight_decay", "Adam's weight decay" + why + " (SparseAdam has none)"};
    }
    for (const auto& group : spec.param_groups) {
      if (group.weight_decay && *group.weight_decay != 0.0) {
        return {"optimizer.param_groups", "Adam's weight decay" + why + " (SparseAdam has none)"};
      }
    }
    if (spec.amsgrad) return {"optimizer.amsgrad", "AMSGrad" + why};
    return {};
  }
  return {"optimizer.type", "\"" + spec.type + "\"" + why + " (use sgd or adam)"};
}

std::unique_ptr<SparseOptimizer> make_sparse_optimizer(std::vector<nn::SparseParameter*> params,
                                                       const OptimizerSpec& spec) {
  if (const auto problem = check_sparse_spec(spec); !problem.field.empty()) {
    throw Error(problem.field + ": " + problem.message);
  }
  detail::require_at_least(spec.lr, 0.0, "optimizer.lr");
  detail::require_at_least(spec.weight_decay, 0.0, "optimizer.weight_decay");
  if (spec.type == "adam") {
    detail::require_in(spec.beta1, 0.0, 1.0, false, "optimizer.betas[0]");
    detail::require_in(spec.beta2, 0.0, 1.0, false, "optimizer.betas[1]");
    return std::make_unique<SparseAdam>(std::move(params), spec);
  }
  return std::make_unique<SparseSgd>(std::move(params), spec, false);
}

}  // namespace tb::optim
