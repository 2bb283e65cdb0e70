// Optimizer: updates a model's parameters from their gradients with fused backend ops
// (parameter, gradient and state read and written in a single pass), one multi-tensor op per
// parameter group (one launch for the group's tensors on a device).
//
// The optimizers are the ones people trust, update for update: SGD, Adam, AdamW, RMSProp and Lion
// as torch.optim (and the Lion paper) define them, and Lookahead wrapping any of them.
// Parameters are split into groups (first matching ParamGroupSpec by name) with their own lr and
// weight decay; a schedule scales every group's lr through set_lr_factor().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/nn/layer.h"

namespace tb::optim {

// Parameters whose name contains `match` ("bias", "0.") take these settings instead of the
// optimizer's. The first matching group wins.
struct ParamGroupSpec {
  std::string match;
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

struct LookaheadSpec {
  std::int64_t k = 0;  // inner steps per slow update; 0: no Lookahead
  double alpha = 0.5;  // slow weights: phi += alpha * (theta - phi); then theta = phi
};

// Every optimizer's settings. Fields an optimizer does not use are ignored; the project file
// fills per-type defaults (Adam lr 1e-3 betas (0.9, 0.999), Lion betas (0.9, 0.99), ...).
struct OptimizerSpec {
  std::string type = "sgd";  // sgd | adam | adamw | rmsprop | lion
  double lr = 0.05;
  double weight_decay = 0.0;  // L2 for sgd/adam/rmsprop, decoupled for adamw/lion
  // sgd (and rmsprop's momentum)
  double momentum = 0.9;
  double dampening = 0.0;
  bool nesterov = false;
  // adam, adamw, lion
  double beta1 = 0.9;
  double beta2 = 0.999;
  bool amsgrad = false;
  // adam, adamw, rmsprop
  double eps = 1e-8;
  // rmsprop
  double alpha = 0.99;
  bool centered = false;
  LookaheadSpec lookahead;
  std::vector<ParamGroupSpec> param_groups;
};

// What an optimizer carries between steps, to be saved with a checkpoint and restored.
struct OptimizerState {
  std::int64_t step = 0;
  // "<parameter name>.<buffer>" ("1.weight.exp_avg") -> values, in parameter order. Buffers, as
  // torch names them: sgd momentum_buffer (momentum > 0); adam, adamw exp_avg, exp_avg_sq,
  // max_exp_avg_sq (amsgrad); rmsprop square_avg, grad_avg (centered), momentum_buffer
  // (momentum > 0); lion exp_avg. Lookahead appends one lookahead_slow per parameter.
  std::vector<std::pair<std::string, std::vector<float>>> tensors;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  // Applies one update from the gradients backward() left in the parameters.
  virtual void step() = 0;
  // Effective lr of the first group (what a progress bar or a metric shows).
  virtual double lr() const = 0;
  // Every group's lr becomes its base lr times factor (what a schedule sets each step).
  virtual void set_lr_factor(double factor) = 0;
  virtual OptimizerState state() const = 0;
  // Throws tb::Error naming the buffer when the state does not fit these parameters.
  virtual void load_state(const OptimizerState& state) = 0;
};

// Builds the optimizer of spec over params (wrapped in Lookahead when spec.lookahead.k > 0).
// Throws tb::Error naming the setting ("optimizer.lr", "optimizer.nesterov") when a value is out
// of range: negative lr, betas outside [0, 1), Nesterov without momentum or with dampening, ...
std::unique_ptr<Optimizer> make_optimizer(tensor::Backend& backend,
                                          std::vector<nn::Parameter*> params,
                                          const OptimizerSpec& spec);

// Scales all gradients so their global L2 norm is at most max_norm (torch.nn.utils.
// clip_grad_norm_); returns the norm before clipping. max_norm <= 0 only measures.
double clip_grad_norm(tensor::Backend& backend, const std::vector<nn::Parameter*>& params,
                      double max_norm);

}  // namespace tb::optim
