// Lion (Chen et al. 2023): the sign of an interpolated momentum, decoupled weight decay.
#include "core/optim/detail.h"

namespace tb::optim::detail {
namespace {

class Lion final : public GroupedOptimizer {
 public:
  Lion(tensor::Backend& backend, std::vector<nn::Parameter*> params, const OptimizerSpec& spec)
      : GroupedOptimizer(backend, std::move(params), spec, {"exp_avg"}), spec_(spec) {}

  std::string name() const override { return "lion"; }

 protected:
  void update(Slot& slot, float lr) override {
    tensor::LionStep s;
    s.lr = lr;
    s.beta1 = static_cast<float>(spec_.beta1);
    s.beta2 = static_cast<float>(spec_.beta2);
    s.weight_decay = static_cast<float>(slot.weight_decay);
    backend_.lion_step(slot.param->value, slot.param->grad, slot.buffers[0], s);
  }

 private:
  OptimizerSpec spec_;
};

}  // namespace

std::unique_ptr<Optimizer> make_lion(tensor::Backend& backend, std::vector<nn::Parameter*> params,
                                     const OptimizerSpec& spec) {
  return std::make_unique<Lion>(backend, std::move(params), spec);
}

}  // namespace tb::optim::detail
