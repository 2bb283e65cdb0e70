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
  void update(Slot& slot, float lr) override {
    tensor::RmspropStep s;
    s.lr = lr;
    s.alpha = static_cast<float>(spec_.alpha);
    s.eps = static_cast<float>(spec_.eps);
    s.weight_decay = static_cast<float>(slot.weight_decay);
    s.momentum = static_cast<float>(spec_.momentum);
    s.centered = spec_.centered;
    std::size_t next = 1;
    auto& grad_avg = spec_.centered ? slot.buffers[next++] : none_;
    auto& momentum_buf = spec_.momentum > 0.0 ? slot.buffers[next++] : none_;
    backend_.rmsprop_step(slot.param->value, slot.param->grad, slot.buffers[0], grad_avg,
                          momentum_buf, s);
  }

 private:
  OptimizerSpec spec_;
};

}  // namespace

std::unique_ptr<Optimizer> make_rmsprop(tensor::Backend& backend,
                                        std::vector<nn::Parameter*> params,
                                        const OptimizerSpec& spec) {
  return std::make_unique<Rmsprop>(backend, std::move(params), spec);
}

}  // namespace tb::optim::detail
