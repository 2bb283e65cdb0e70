// Mean softmax cross-entropy over a batch (torch.nn.CrossEntropyLoss).
#pragma once

#include "core/nn/layer.h"

namespace tb::nn {

class SoftmaxCrossEntropy {
 public:
  explicit SoftmaxCrossEntropy(Backend& backend) : backend_(backend) {}
  // logits: [N, K]; labels: i32 [N]. Returns the mean loss.
  float forward(const Tensor& logits, const Tensor& labels);
  // dL/dlogits for the last forward: [N, K].
  const Tensor& backward();

 private:
  Backend& backend_;
  Tensor labels_;
  Tensor probs_;    // [N, K]
  Tensor dlogits_;  // [N, K]
};

}  // namespace tb::nn
