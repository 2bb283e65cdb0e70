// The published update rules, one element at a time in long double, for the reference harness
// (reference.h). Each follows torch.optim's documented algorithm (and the Lion paper) line by
// line, with the settings rounded to the float32 values the engine's kernels receive.
#pragma once

#include <cmath>
#include <vector>

#include "tests/core/optim/reference.h"

namespace tb::optim::test {

struct Rule {
  RefRule rule;
  std::vector<RefBuffer> buffers;
};

// torch.optim.SGD: d = g + wd p; buf = d on the first step, else mu buf + (1 - dampening) d;
// d = nesterov ? d + mu buf : buf; p -= lr d.
inline Rule sgd_rule(const OptimizerSpec& spec) {
  const long double mu = as_float(spec.momentum), damp = as_float(spec.dampening);
  const bool nesterov = spec.nesterov;
  Rule r;
  r.rule = [=](RefElement& e, long double g, const RefStep& s) {
    long double d = g + s.wd * e.p;
    if (mu != 0.0L) {
      e.s[0] = s.t == 1 ? d : mu * e.s[0] + (1.0L - damp) * d;
      d = nesterov ? d + mu * e.s[0] : e.s[0];
    }
    e.p -= s.lr * d;
  };
  if (spec.momentum > 0.0) r.buffers = {{"momentum_buffer", 0}};
  return r;
}

// torch.optim.Adam / AdamW: adam puts L2 decay in the gradient, adamw shrinks p by (1 - lr wd)
// before the step; m, v moments; amsgrad keeps max(v) and uses it; eps after the square root of
// the bias-corrected second moment.
inline Rule adam_rule(const OptimizerSpec& spec) {
  const long double b1 = as_float(spec.beta1), b2 = as_float(spec.beta2), eps = as_float(spec.eps);
  const bool adamw = spec.type == "adamw", amsgrad = spec.amsgrad;
  Rule r;
  r.rule = [=](RefElement& e, long double g, const RefStep& s) {
    if (adamw) {
      e.p *= 1.0L - s.lr * s.wd;
    } else {
      g += s.wd * e.p;
    }
    e.s[0] = b1 * e.s[0] + (1.0L - b1) * g;
    e.s[1] = b2 * e.s[1] + (1.0L - b2) * g * g;
    long double v = e.s[1];
    if (amsgrad) {
      e.s[2] = std::fmax(e.s[2], e.s[1]);
      v = e.s[2];
    }
    const long double t = static_cast<long double>(s.t);
    const long double m_hat = e.s[0] / (1.0L - std::pow(b1, t));
    const long double v_hat = v / (1.0L - std::pow(b2, t));
    e.p -= s.lr * m_hat / (std::sqrt(v_hat) + eps);
  };
  r.buffers = {{"exp_avg", 0}, {"exp_avg_sq", 1}};
  if (amsgrad) r.buffers.push_back({"max_exp_avg_sq", 2});
  return r;
}

// torch.optim.RMSprop: g += wd p; v = alpha v + (1 - alpha) g^2; centered subtracts the squared
// mean gradient; avg = sqrt(.) + eps; momentum accumulates g / avg.
inline Rule rmsprop_rule(const OptimizerSpec& spec) {
  const long double alpha = as_float(spec.alpha), eps = as_float(spec.eps);
  const long double mu = as_float(spec.momentum);
  const bool centered = spec.centered;
  Rule r;
  r.rule = [=](RefElement& e, long double g, const RefStep& s) {
    g += s.wd * e.p;
    e.s[0] = alpha * e.s[0] + (1.0L - alpha) * g * g;
    long double avg;
    if (centered) {
      e.s[1] = alpha * e.s[1] + (1.0L - alpha) * g;
      avg = std::sqrt(e.s[0] - e.s[1] * e.s[1]) + eps;
    } else {
      avg = std::sqrt(e.s[0]) + eps;
    }
    if (mu > 0.0L) {
      e.s[2] = mu * e.s[2] + g / avg;
      e.p -= s.lr * e.s[2];
    } else {
      e.p -= s.lr * g / avg;
    }
  };
  r.buffers = {{"square_avg", 0}};
  if (spec.centered) r.buffers.push_back({"grad_avg", 1});
  if (spec.momentum > 0.0) r.buffers.push_back({"momentum_buffer", 2});
  return r;
}

// Lion (Chen et al. 2023, Algorithm 2): c = b1 m + (1 - b1) g; p = p (1 - lr wd) - lr sign(c);
// m = b2 m + (1 - b2) g.
inline Rule lion_rule(const OptimizerSpec& spec) {
  const long double b1 = as_float(spec.beta1), b2 = as_float(spec.beta2);
  Rule r;
  r.rule = [=](RefElement& e, long double g, const RefStep& s) {
    const long double c = b1 * e.s[0] + (1.0L - b1) * g;
    const long double sign = c > 0.0L ? 1.0L : (c < 0.0L ? -1.0L : 0.0L);
    e.p = e.p * (1.0L - s.lr * s.wd) - s.lr * sign;
    e.s[0] = b2 * e.s[0] + (1.0L - b2) * g;
  };
  r.buffers = {{"exp_avg", 0}};
  return r;
}

inline Rule rule_for(const OptimizerSpec& spec) {
  if (spec.type == "sgd") return sgd_rule(spec);
  if (spec.type == "adam" || spec.type == "adamw") return adam_rule(spec);
  if (spec.type == "rmsprop") return rmsprop_rule(spec);
  return lion_rule(spec);
}

}  // namespace tb::optim::test
