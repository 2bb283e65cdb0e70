#include "core/optim/optimizer.h"
#include "core/util/error.h"

namespace tb::optim {
namespace {

class Sgd final : public Optimizer {
 public:
  Sgd(tensor::Backend& backend, std::vector<nn::Parameter*> params, const SgdOptions& options)
      : backend_(backend), params_(std::move(params)), options_(options) {
    if (!(options.lr >= 0.0)) throw Error("optimizer.lr must be >= 0");
    if (!(options.momentum >= 0.0)) throw Error("optimizer.momentum must be >= 0");
    if (!(options.weight_decay >= 0.0)) throw Error("optimizer.weight_decay must be >= 0");
    if (options.nesterov && (options.momentum <= 0.0 || options.dampening != 0.0)) {
      throw Error("optimizer.nesterov needs momentum > 0 and dampening 0");
    }
    // Momentum buffers: one per parameter, allocated once.
    if (options.momentum > 0.0) {
      for (auto* p : params_) velocity_.push_back(backend_.zeros(p->value.shape()));
    }
  }

  std::string name() const override { return "sgd"; }
  double lr() const override { return options_.lr; }
  void set_lr(double lr) override { options_.lr = lr; }

  void step() override {
    tensor::SgdStep s;
    s.lr = static_cast<float>(options_.lr);
    s.momentum = static_cast<float>(options_.momentum);
    s.dampening = static_cast<float>(options_.dampening);
    s.weight_decay = static_cast<float>(options_.weight_decay);
    s.nesterov = options_.nesterov;
    s.first_step = first_step_;
    tensor::Tensor unused;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      backend_.sgd_step(params_[i]->value, params_[i]->grad,
                        velocity_.empty() ? unused : velocity_[i], s);
    }
    first_step_ = false;
  }

 private:
  tensor::Backend& backend_;
  std::vector<nn::Parameter*> params_;
  SgdOptions options_;
  std::vector<tensor::Tensor> velocity_;
  bool first_step_ = true;
};

}  // namespace

std::unique_ptr<Optimizer> make_sgd(tensor::Backend& backend, std::vector<nn::Parameter*> params,
                                    const SgdOptions& options) {
  return std::make_unique<Sgd>(backend, std::move(params), options);
}

}  // namespace tb::optim
