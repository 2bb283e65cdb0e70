// Model: a sequence of layers built from a ModelSpec.
#pragma once

#include <cstdint>
#include <functional>
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
  // The dtype activations are stored in: f32 (fp32 training, the default) or f16 / bf16 (mixed
  // precision: fp32 master weights that the optimizer updates, a working copy rounded to the
  // storage dtype that forward and backward use, 16-bit activations between layers and for
  // backward, fp32 arithmetic and accumulation, activation gradients rounded to the storage dtype).
  void set_storage(tensor::DType storage);
  tensor::DType storage() const { return storage_; }

  // x: f32 [N, sample_shape...] -> f32 logits [N, classes] (in 16-bit: the narrowed logits
  // widened).
  const Tensor& forward(const Tensor& x, bool training);
  // dlogits -> parameter gradients (the input's gradient is not computed). dlogits is multiplied
  // by loss_scale first (fp16 loss scaling: the gradients come out scaled by it).
  void backward(const Tensor& dlogits, float loss_scale = 1.0f);
  // Called in backward with each parameter as soon as its gradient is final, the last layer's
  // first: how data parallelism starts averaging a bucket of gradients across ranks while
  // backward goes on with the layers before it. Empty (the default): nobody is told.
  void set_gradient_ready(std::function<void(Parameter&)> ready) {
    gradient_ready_ = std::move(ready);
  }

  // Bytes of the activations the last forward left held for backward: the input as the model keeps
  // it, every layer's outputs and saved tensors (each buffer once), the f32 logits in 16-bit.
  std::size_t activation_bytes() const;
  // Bytes of the shared 16-bit workspace (0 in fp32): scratch, not held between forward and
  // backward, reported separately so the total memory is visible too.
  std::size_t workspace_bytes() const;
  // Bytes of the weights: the fp32 masters, plus in 16-bit their working copies (2 bytes each).
  std::size_t weight_bytes();

  // A resumed session: `steps` training forwards already happened, so layers whose randomness
  // advances per step (Dropout) continue the uninterrupted run's sequence.
  void set_training_steps_done(std::uint64_t steps);

  std::vector<Parameter*> parameters();
  // The same, in the order backward finishes their gradients (set_gradient_ready's order): the
  // last layer's first, each layer's in its own order.
  std::vector<Parameter*> parameters_in_gradient_order();
  std::int64_t parameter_count();
  std::string describe() const;  // "Linear(784->256) ReLU ..."
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }
  const Shape& sample_shape() const { return sample_shape_; }

 private:
  bool low_precision() const { return storage_ != tensor::DType::f32; }
  void refresh_working_weights();

  Backend& backend_;
  Shape sample_shape_;  // one sample, without the batch dimension: [1, 28, 28]
  std::vector<std::unique_ptr<Layer>> layers_;
  tensor::DType storage_ = tensor::DType::f32;
  Workspace workspace_;          // 16-bit only, shared by the layers
  std::size_t input_bytes_ = 0;  // fp32: the caller's input, which the first layer keeps a view of
  Tensor x16_;      // [N, sample_shape...] in the storage dtype: the input, 16-bit only
  Tensor logits_;   // [N, classes] f32: the last layer's 16-bit output widened, 16-bit only
  Tensor dlogits_;  // [N, classes] f32: dlogits scaled and rounded, when either applies
  std::function<void(Parameter&)> gradient_ready_;
};

// Builds an "mlp" (Flatten, then Linear+ReLU per hidden size, then Linear to the classes) or a
// "cnn" (per conv block: Conv2d same-padded, BatchNorm2d if asked, ReLU, MaxPool2d if pool > 1;
// then the mlp head). Weights come from `seed`. Throws tb::Error when the spec does not fit the
// input (e.g. pooling below one pixel).
std::unique_ptr<Model> build_model(Backend& backend, const ModelSpec& spec,
                                   const Shape& sample_shape, std::int64_t classes,
                                   std::uint64_t seed);

}  // namespace tb::nn
