// Model: a sequence of layers built from a ModelSpec.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/nn/layer.h"
#include "core/nn/model_spec.h"

namespace tb::nn {

class Model {
 public:
  Model(Backend& backend, const Shape& sample_shape)
      : backend_(backend), sample_shape_(sample_shape) {}

  void add(std::unique_ptr<Layer> layer);
  // x: [N, sample_shape...] -> logits [N, classes].
  const Tensor& forward(const Tensor& x, bool training);
  // dlogits -> parameter gradients (the input's gradient is not computed).
  void backward(const Tensor& dlogits);

  std::vector<Parameter*> parameters();
  std::int64_t parameter_count();
  std::string describe() const;  // "Linear(784->256) ReLU ..."
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }
  const Shape& sample_shape() const { return sample_shape_; }

 private:
  Backend& backend_;
  Shape sample_shape_;  // one sample, without the batch dimension: [1, 28, 28]
  std::vector<std::unique_ptr<Layer>> layers_;
};

// Builds an "mlp" (Flatten, then Linear+ReLU per hidden size, then Linear to the classes) or a
// "cnn" (per conv block: Conv2d same-padded, BatchNorm2d if asked, ReLU, MaxPool2d if pool > 1;
// then the mlp head). Weights come from `seed`. Throws tb::Error when the spec does not fit the
// input (e.g. pooling below one pixel).
std::unique_ptr<Model> build_model(Backend& backend, const ModelSpec& spec,
                                   const Shape& sample_shape, std::int64_t classes,
                                   std::uint64_t seed);

}  // namespace tb::nn
