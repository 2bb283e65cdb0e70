// make_optimizer: checks every setting the chosen optimizer uses, then builds it (and Lookahead
// around it). Errors start with the setting as the project file spells it ("optimizer.lr",
// "optimizer.betas[0]"), so the message points at the line to fix.
#include "core/optim/detail.h"

namespace tb::optim {
namespace {

using detail::require_at_least;
using detail::require_in;

void validate(const OptimizerSpec& spec) {
  const std::string& type = spec.type;
  if (type != "sgd" && type != "adam" && type != "adamw" && type != "rmsprop" && type != "lion") {
    throw Error("optimizer.type must be one of sgd, adam, adamw, rmsprop, lion (got '" + type +
                "')");
  }
  require_at_least(spec.lr, 0.0, "optimizer.lr");
  require_at_least(spec.weight_decay, 0.0, "optimizer.weight_decay");
  if (type == "sgd") {
    require_at_least(spec.momentum, 0.0, "optimizer.momentum");
    require_in(spec.dampening, 0.0, 1.0, true, "optimizer.dampening");
    if (spec.nesterov && (spec.momentum <= 0.0 || spec.dampening != 0.0)) {
      throw Error("optimizer.nesterov needs momentum > 0 and dampening 0 (got momentum " +
                  detail::show(spec.momentum) + ", dampening " + detail::show(spec.dampening) +
                  ")");
    }
  }
  if (type == "adam" || type == "adamw" || type == "lion") {
    // The project file holds them as betas: [beta1, beta2].
    require_in(spec.beta1, 0.0, 1.0, false, "optimizer.betas[0] (beta1)");
    require_in(spec.beta2, 0.0, 1.0, false, "optimizer.betas[1] (beta2)");
  }
  if (type == "adam" || type == "adamw" || type == "rmsprop") {
    require_at_least(spec.eps, 0.0, "optimizer.eps");
  }
  if (type == "rmsprop") {
    require_in(spec.alpha, 0.0, 1.0, true, "optimizer.alpha");
    require_at_least(spec.momentum, 0.0, "optimizer.momentum");
  }
  if (spec.lookahead.k < 0) {
    throw Error("optimizer.lookahead.k must be >= 0 (got " + std::to_string(spec.lookahead.k) +
                "; 0 turns Lookahead off)");
  }
  if (spec.lookahead.k > 0 && !(spec.lookahead.alpha > 0.0 && spec.lookahead.alpha <= 1.0)) {
    throw Error("optimizer.lookahead.alpha must be in (0, 1] (got " +
                detail::show(spec.lookahead.alpha) + ")");
  }
  for (std::size_t i = 0; i < spec.param_groups.size(); ++i) {
    const auto& group = spec.param_groups[i];
    const std::string field = "optimizer.param_groups[" + std::to_string(i) + "]";
    // An empty match would take every parameter: surely a mistake, not a way to set the default.
    if (group.match.empty()) throw Error(field + ".match must not be empty");
    if (group.lr) require_at_least(*group.lr, 0.0, field + ".lr");
    if (group.weight_decay) require_at_least(*group.weight_decay, 0.0, field + ".weight_decay");
  }
}

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(tensor::Backend& backend,
                                          std::vector<nn::Parameter*> params,
                                          const OptimizerSpec& spec) {
  validate(spec);
  std::unique_ptr<Optimizer> inner;
  if (spec.type == "sgd") {
    inner = detail::make_sgd(backend, params, spec);
  } else if (spec.type == "adam" || spec.type == "adamw") {
    inner = detail::make_adam(backend, params, spec);
  } else if (spec.type == "rmsprop") {
    inner = detail::make_rmsprop(backend, params, spec);
  } else {
    inner = detail::make_lion(backend, params, spec);
  }
  if (spec.lookahead.k == 0) return inner;
  return detail::make_lookahead(backend, std::move(params), spec.lookahead, std::move(inner));
}

}  // namespace tb::optim
