// Adam and AdamW (decoupled weight decay), with AMSGrad, as torch.optim.Adam / AdamW.
#include <cmath>

#include "core/optim/detail.h"

namespace tb::optim::detail {
namespace {

class Adam final : public GroupedOptimizer {
 public:
  Adam(tensor::Backend& backend, std::vector<nn::Parameter*> params, const OptimizerSpec& spec)
      : GroupedOptimizer(backend, std::move(params), spec,
                         spec.amsgrad
                             ? std::vector<std::string>{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
                             : std::vector<std::string>{"exp_avg", "exp_avg_sq"}),
        spec_(spec) {}

  std::string name() const override { return spec_.type; }

 protected:
  void update(std::span<Slot* const> group, float lr, float weight_decay) override {
    tensor::AdamStep s;
    s.lr = lr;
    s.beta1 = static_cast<float>(spec_.beta1);
    s.beta2 = static_cast<float>(spec_.beta2);
    s.eps = static_cast<float>(spec_.eps);
    s.weight_decay = weight_decay;
    s.decoupled = spec_.type == "adamw";
    s.amsgrad = spec_.amsgrad;
    // 1 - beta^t in double from the float betas the kernel uses, so the moments and their
    // corrections agree; pow in float would lose digits once beta^t nears 1 - 1e-7.
    const auto t = static_cast<double>(steps());
    s.bias_correction1 = static_cast<float>(1.0 - std::pow(static_cast<double>(s.beta1), t));
    s.bias_correction2 = static_cast<float>(1.0 - std::pow(static_cast<double>(s.beta2), t));
    tensors_.clear();
    for (Slot* slot : group) {
      tensors_.push_back({&slot->param->value, &slot->param->grad, &slot->buffers[0],
                          &slot->buffers[1], spec_.amsgrad ? &slot->buffers[2] : nullptr});
    }
    backend_.adam_step_multi(tensors_, s);
  }

 private:
  OptimizerSpec spec_;
  std::vector<tensor::AdamTensors> tensors_;  // update()'s list, kept to reuse its memory
};

}  // namespace

std::unique_ptr<Optimizer> make_adam(tensor::Backend& backend, std::vector<nn::Parameter*> params,
                                     const OptimizerSpec& spec) {
  return std::make_unique<Adam>(backend, std::move(params), spec);
}

}  // namespace tb::optim::detail
