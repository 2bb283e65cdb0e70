// SGD with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD.
#include "core/optim/detail.h"

namespace tb::optim::detail {
namespace {

class Sgd final : public GroupedOptimizer {
 public:
  Sgd(tensor::Backend& backend, std::vector<nn::Parameter*> params, const OptimizerSpec& spec)
      : GroupedOptimizer(backend, std::move(params), spec,
                         // Without momentum torch keeps no buffer, and neither do we.
                         spec.momentum > 0.0 ? std::vector<std::string>{"momentum_buffer"}
                                             : std::vector<std::string>{}),
        spec_(spec) {}

  std::string name() const override { return "sgd"; }

 protected:
  void update(std::span<Slot* const> group, float lr, float weight_decay) override {
    tensor::SgdStep s;
    s.lr = lr;
    s.momentum = static_cast<float>(spec_.momentum);
    s.dampening = static_cast<float>(spec_.dampening);
    s.weight_decay = weight_decay;
    s.nesterov = spec_.nesterov;
    // torch starts the buffer as the gradient itself on the first step. After load_state() the
    // step count comes from the checkpoint, so a resumed run continues its buffer.
    s.first_step = steps() == 1;
    tensors_.clear();
    for (Slot* slot : group) {
      tensors_.push_back({&slot->param->value, &slot->param->grad,
                          slot->buffers.empty() ? nullptr : &slot->buffers[0]});
    }
    backend_.sgd_step_multi(tensors_, s);
  }

 private:
  OptimizerSpec spec_;
  std::vector<tensor::SgdTensors> tensors_;  // update()'s list, kept to reuse its memory
};

}  // namespace

std::unique_ptr<Optimizer> make_sgd(tensor::Backend& backend, std::vector<nn::Parameter*> params,
                                    const OptimizerSpec& spec) {
  return std::make_unique<Sgd>(backend, std::move(params), spec);
}

}  // namespace tb::optim::detail
