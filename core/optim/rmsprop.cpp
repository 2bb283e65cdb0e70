// RMSProp (centered or not, with optional momentum), as torch.optim.RMSprop.
#include "core/optim/detail.h"

namespace tb::optim::detail {
namespace {

std::vector<std::string> rmsprop_buffers(const OptimizerSpec& spec) {
  std::vector<std::string> names{"square_avg"};
  if (spec.centered) names.push_back("grad_avg");
  if (spec.momentum > 0.0) names.push_back("momentum_buffer");
  return names;
}

class Rmsprop final : public GroupedOptimizer {
 public:
  Rmsprop(tensor::Backend& backend, std::vector<nn::Parameter*> params, const OptimizerSpec& spec)
      : GroupedOptimizer(backend, std::move(params), spec, rmsprop_buffers(spec)), spec_(spec) {}

  std::string name() const override { return "rmsprop"; }

 protected:
  void update(std::span<Slot* const> group, float lr, float weight_decay) override {
    tensor::RmspropStep s;
    s.lr = lr;
    s.alpha = static_cast<float>(spec_.alpha);
    s.eps = static_cast<float>(spec_.eps);
    s.weight_decay = weight_decay;
    s.momentum = static_cast<float>(spec_.momentum);
    s.centered = spec_.centered;
    tensors_.clear();
    for (Slot* slot : group) {
      std::size_t next = 1;
      tensor::Tensor* grad_avg = spec_.centered ? &slot->buffers[next++] : nullptr;
      tensor::Tensor* momentum_buf = spec_.momentum > 0.0 ? &slot->buffers[next++] : nullptr;
      tensors_.push_back(
          {&slot->param->value, &slot->param->grad, &slot->buffers[0], grad_avg, momentum_buf});
    }
    backend_.rmsprop_step_multi(tensors_, s);
  }

 private:
  OptimizerSpec spec_;
  std::vector<tensor::RmspropTensors> tensors_;  // update()'s list, kept to reuse its memory
};

}  // namespace

std::unique_ptr<Optimizer> make_rmsprop(tensor::Backend& backend,
                                        std::vector<nn::Parameter*> params,
                                        const OptimizerSpec& spec) {
  return std::make_unique<Rmsprop>(backend, std::move(params), spec);
}

}  // namespace tb::optim::detail
