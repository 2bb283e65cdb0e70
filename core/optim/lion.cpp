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
  void update(std::span<Slot* const> group, float lr, float weight_decay) override {
    tensor::LionStep s;
    s.lr = lr;
    s.beta1 = static_cast<float>(spec_.beta1);
    s.beta2 = static_cast<float>(spec_.beta2);
    s.weight_decay = weight_decay;
    tensors_.clear();
    for (Slot* slot : group) {
      tensors_.push_back({&slot->param->value, &slot->param->grad, &slot->buffers[0]});
    }
    backend_.lion_step_multi(tensors_, s);
  }

 private:
  OptimizerSpec spec_;
  std::vector<tensor::LionTensors> tensors_;  // update()'s list, kept to reuse its memory
};

}  // namespace

std::unique_ptr<Optimizer> make_lion(tensor::Backend& backend, std::vector<nn::Parameter*> params,
                                     const OptimizerSpec& spec) {
  return std::make_unique<Lion>(backend, std::move(params), spec);
}

}  // namespace tb::optim::detail
