#include "core/nn/loss.h"

namespace tb::nn {

float SoftmaxCrossEntropy::forward(const Tensor& logits, const Tensor& labels) {
  labels_ = labels;
  backend_.ensure(probs_, logits.shape());
  return backend_.softmax_cross_entropy_forward(logits, labels, probs_);
}

const Tensor& SoftmaxCrossEntropy::backward() {
  backend_.ensure(dlogits_, probs_.shape());
  backend_.softmax_cross_entropy_backward(probs_, labels_, dlogits_);
  return dlogits_;
}

}  // namespace tb::nn
