// Helpers shared by the optimizer tests: a few parameters of different shapes, and the pointers
// make_optimizer takes.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "core/nn/layer.h"
#include "core/optim/optimizer.h"
#include "tests/core/tensor/test_util.h"

namespace tb::optim::test {

// Parameters "p0", "p1", "p2" of three shapes, values uniform in [-1, 1), zero gradients.
inline std::vector<nn::Parameter> make_params(tensor::Backend& backend, std::mt19937_64& rng) {
  std::vector<nn::Parameter> params;
  int i = 0;
  for (const tensor::Shape& s : {tensor::Shape{7, 5}, tensor::Shape{5}, tensor::Shape{2, 3, 4}}) {
    std::string name = "p";
    name += std::to_string(i++);  // not "p" + ...: GCC 12 warns falsely (-Wrestrict) on that
    params.push_back({name,
                      test_util::from_vec(backend, s, test_util::random_floats(s.numel(), rng)),
                      backend.zeros(s)});
  }
  return params;
}

inline std::vector<nn::Parameter*> pointers(std::vector<nn::Parameter>& params) {
  std::vector<nn::Parameter*> out;
  for (auto& p : params) out.push_back(&p);
  return out;
}

// Settings of an SGD optimizer. Spelled out because OptimizerSpec's defaults are the project's
// (momentum 0.9), not torch's (momentum 0).
inline OptimizerSpec sgd_spec(double lr, double momentum = 0.0, double dampening = 0.0,
                              double weight_decay = 0.0, bool nesterov = false) {
  OptimizerSpec s;
  s.type = "sgd";
  s.lr = lr;
  s.momentum = momentum;
  s.dampening = dampening;
  s.weight_decay = weight_decay;
  s.nesterov = nesterov;
  return s;
}

}  // namespace tb::optim::test
