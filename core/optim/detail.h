// Internal to core/optim: the machinery every optimizer shares (parameter groups, the lr factor,
// per-parameter state buffers and their checkpoint form) and the settings checks, so each
// optimizer's file holds only its own update.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "core/optim/optimizer.h"
#include "core/tensor/backend.h"
#include "core/util/error.h"

namespace tb::optim::detail {

// "-1", "1e-08", "nan": how a setting's value reads in an error message.
inline std::string show(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// Throws "<field> must be >= 0 (got -1)". Written as !(x >= lo) so NaN is rejected too.
inline void require_at_least(double value, double lo, const std::string& field) {
  if (!(value >= lo) || std::isinf(value)) {
    throw Error(field + " must be >= " + show(lo) + " (got " + show(value) + ")");
  }
}

// Throws "<field> must be in [lo, hi) (got 1)" (hi excluded unless hi_included).
inline void require_in(double value, double lo, double hi, bool hi_included,
                       const std::string& field) {
  const bool ok = value >= lo && (hi_included ? value <= hi : value < hi);
  if (!ok) {
    throw Error(field + " must be in [" + show(lo) + ", " + show(hi) + (hi_included ? "]" : ")") +
                " (got " + show(value) + ")");
  }
}

// One parameter, the settings of its group, and the optimizer's buffers for it.
struct Slot {
  nn::Parameter* param = nullptr;
  double base_lr = 0.0;
  double weight_decay = 0.0;
  std::vector<tensor::Tensor> buffers;  // one per buffer name, zero-initialised
};

// The parameter groups among slots: slots with the same base_lr and weight_decay (bitwise
// equal, so that one step's settings are exactly each slot's own), as lists of slot indices,
// groups in the order of their first slot and each group's slots in slot order. Slots of one
// group need not be adjacent.
std::vector<std::vector<std::size_t>> group_slots(std::span<const Slot> slots);

// An optimizer over parameter groups whose update is one multi-tensor backend op per group (one
// launch for the whole group on a device).
class GroupedOptimizer : public Optimizer {
 public:
  double lr() const override;
  void set_lr_factor(double factor) override;
  // Counts the step (1-based inside update()), then updates every parameter, group by group.
  void step() override;
  OptimizerState state() const override;
  void load_state(const OptimizerState& state) override;

 protected:
  // buffer_names: the state kept per parameter, as torch names it ("exp_avg"); each becomes a
  // zero tensor of the parameter's shape.
  GroupedOptimizer(tensor::Backend& backend, std::vector<nn::Parameter*> params,
                   const OptimizerSpec& spec, std::vector<std::string> buffer_names);
  // Applies this step's update to one parameter group (a group_slots() group, never empty) with
  // one multi-tensor backend op: lr already includes the schedule's factor, and weight_decay is
  // the group's (every slot's).
  virtual void update(std::span<Slot* const> group, float lr, float weight_decay) = 0;
  // Steps taken so far, including the one in progress inside update().
  std::int64_t steps() const { return steps_; }

  tensor::Backend& backend_;

 private:
  std::vector<std::string> buffer_names_;
  std::vector<Slot> slots_;
  std::vector<std::vector<std::size_t>> groups_;  // group_slots(slots_)
  std::vector<Slot*> group_;                      // step()'s list of one group's slots
  double spec_lr_ = 0.0;                          // lr() when there are no parameters
  double factor_ = 1.0;
  std::int64_t steps_ = 0;
};

// The optimizers behind make_optimizer; spec has been validated.
std::unique_ptr<Optimizer> make_sgd(tensor::Backend& backend, std::vector<nn::Parameter*> params,
                                    const OptimizerSpec& spec);
std::unique_ptr<Optimizer> make_adam(tensor::Backend& backend, std::vector<nn::Parameter*> params,
                                     const OptimizerSpec& spec);
std::unique_ptr<Optimizer> make_rmsprop(tensor::Backend& backend,
                                        std::vector<nn::Parameter*> params,
                                        const OptimizerSpec& spec);
std::unique_ptr<Optimizer> make_lion(tensor::Backend& backend, std::vector<nn::Parameter*> params,
                                     const OptimizerSpec& spec);
std::unique_ptr<Optimizer> make_lookahead(tensor::Backend& backend,
                                          std::vector<nn::Parameter*> params,
                                          const LookaheadSpec& spec,
                                          std::unique_ptr<Optimizer> inner);

}  // namespace tb::optim::detail
