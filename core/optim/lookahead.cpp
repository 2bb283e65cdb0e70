// Lookahead (Zhang et al. 2019, "Lookahead Optimizer: k steps forward, 1 step back") around any
// optimizer: the inner optimizer moves the fast weights; every k steps the slow weights move a
// fraction alpha towards them and the fast weights restart from the slow ones.
#include "core/optim/detail.h"

namespace tb::optim::detail {
namespace {

constexpr const char* kSlowBuffer = "lookahead_slow";

class Lookahead final : public Optimizer {
 public:
  Lookahead(tensor::Backend& backend, std::vector<nn::Parameter*> params, const LookaheadSpec& spec,
            std::unique_ptr<Optimizer> inner)
      : backend_(backend), params_(std::move(params)), spec_(spec), inner_(std::move(inner)) {
    // phi starts as theta.
    for (auto* p : params_) {
      slow_.push_back(backend_.empty(p->value.shape()));
      backend_.copy(p->value, slow_.back());
    }
  }

  std::string name() const override { return "lookahead(" + inner_->name() + ")"; }
  double lr() const override { return inner_->lr(); }
  void set_lr_factor(double factor) override { inner_->set_lr_factor(factor); }

  void step() override {
    inner_->step();
    ++steps_;
    if (steps_ % spec_.k != 0) return;
    const tensor::LerpStep s{static_cast<float>(spec_.alpha)};
    for (std::size_t i = 0; i < params_.size(); ++i) backend_.lerp_(slow_[i], params_[i]->value, s);
  }

  // The inner optimizer's buffers, then one slow-weight buffer per parameter.
  OptimizerState state() const override {
    OptimizerState out = inner_->state();
    for (std::size_t i = 0; i < params_.size(); ++i) {
      std::vector<float> values(static_cast<std::size_t>(slow_[i].numel()));
      backend_.download(slow_[i], values.data(), values.size() * sizeof(float));
      out.tensors.emplace_back(params_[i]->name + "." + kSlowBuffer, std::move(values));
    }
    out.step = steps_;
    return out;
  }

  void load_state(const OptimizerState& state) override {
    const std::size_t n = params_.size();
    if (state.tensors.size() < n) {
      throw Error("optimizer state: buffer '" +
                  (n ? params_[0]->name + "." + kSlowBuffer : std::string()) +
                  "' is missing (saved without Lookahead?)");
    }
    const std::size_t first_slow = state.tensors.size() - n;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& [name, values] = state.tensors[first_slow + i];
      const std::string want = params_[i]->name + "." + kSlowBuffer;
      if (name != want) {
        throw Error("optimizer state: buffer '" + want + "' expected, found '" + name +
                    "' (saved without Lookahead?)");
      }
      if (static_cast<std::int64_t>(values.size()) != slow_[i].numel()) {
        throw Error("optimizer state: buffer '" + want + "' has " + std::to_string(values.size()) +
                    " values, the parameter has " + std::to_string(slow_[i].numel()));
      }
    }
    OptimizerState inner_state;
    inner_state.step = state.step;
    inner_state.tensors.assign(state.tensors.begin(),
                               state.tensors.begin() + static_cast<std::ptrdiff_t>(first_slow));
    inner_->load_state(inner_state);  // checks its own buffers (and throws before we change any)
    for (std::size_t i = 0; i < n; ++i) {
      const auto& values = state.tensors[first_slow + i].second;
      backend_.upload(slow_[i], values.data(), values.size() * sizeof(float));
    }
    steps_ = state.step;
  }

 private:
  tensor::Backend& backend_;
  std::vector<nn::Parameter*> params_;
  LookaheadSpec spec_;
  std::unique_ptr<Optimizer> inner_;
  std::vector<tensor::Tensor> slow_;
  std::int64_t steps_ = 0;
};

}  // namespace

std::unique_ptr<Optimizer> make_lookahead(tensor::Backend& backend,
                                          std::vector<nn::Parameter*> params,
                                          const LookaheadSpec& spec,
                                          std::unique_ptr<Optimizer> inner) {
  return std::make_unique<Lookahead>(backend, std::move(params), spec, std::move(inner));
}

}  // namespace tb::optim::detail
