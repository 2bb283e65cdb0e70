// Optimizer: updates a model's parameters from their gradients, one fused backend op per tensor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/nn/layer.h"

namespace tb::optim {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
  // Applies one update from the gradients backward() left in the parameters.
  virtual void step() = 0;
  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;
};

// torch.optim.SGD's options; defaults are PyTorch's.
struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// Throws tb::Error naming the option when it is out of range (negative lr or momentum, Nesterov
// without momentum or with dampening).
std::unique_ptr<Optimizer> make_sgd(tensor::Backend& backend, std::vector<nn::Parameter*> params,
                                    const SgdOptions& options);

}  // namespace tb::optim
