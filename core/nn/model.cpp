#include "core/nn/model.h"

#include "core/nn/conv.h"
#include "core/nn/elementwise.h"
#include "core/nn/linear.h"
#include "core/util/error.h"

namespace tb::nn {

void Model::add(std::unique_ptr<Layer> layer) {
  // An input gradient is only worth computing when some earlier layer has parameters to train:
  // the Linear after a leading Flatten skips its largest matrix product.
  bool trainable_before = false;
  for (const auto& earlier : layers_) trainable_before |= !earlier->parameters().empty();
  layer->set_needs_input_grad(trainable_before);
  for (Parameter* p : layer->parameters()) p->name = std::to_string(layers_.size()) + "." + p->name;
  layers_.push_back(std::move(layer));
}

const Tensor& Model::forward(const Tensor& x, bool training) {
  const Tensor* h = &x;
  for (auto& layer : layers_) h = &layer->forward(*h, training);
  return *h;
}

void Model::backward(const Tensor& dlogits) {
  const Tensor* g = &dlogits;
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) g = &(*it)->backward(*g);
}

std::vector<Parameter*> Model::parameters() {
  std::vector<Parameter*> all;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    for (Parameter* p : layers_[i]->parameters()) all.push_back(p);
  }
  return all;
}

std::int64_t Model::parameter_count() {
  std::int64_t count = 0;
  for (Parameter* p : parameters()) count += p->value.numel();
  return count;
}

std::string Model::describe() const {
  std::string text;
  for (const auto& layer : layers_) {
    if (!text.empty()) text += ' ';
    text += layer->describe();
  }
  return text;
}

std::unique_ptr<Model> build_model(Backend& backend, const ModelSpec& spec,
                                   const Shape& sample_shape, std::int64_t classes,
                                   std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto model = std::make_unique<Model>(backend, sample_shape);
  std::vector<std::int64_t> dims{1};
  dims.insert(dims.end(), sample_shape.dims().begin(), sample_shape.dims().end());
  Shape shape(dims);  // a batch of one, to follow shapes through the layers
  auto add = [&](std::unique_ptr<Layer> layer) {
    shape = layer->output_shape(shape);
    model->add(std::move(layer));
  };
  if (spec.type == "cnn") {
    if (shape.rank() != 4)
      throw Error("a cnn needs image samples [C, H, W], got " + sample_shape.str());
    for (const auto& block : spec.conv) {
      add(std::make_unique<Conv2d>(backend, shape[1], block.channels, block.kernel, 1,
                                   block.kernel / 2, rng));
      if (block.batch_norm) add(std::make_unique<BatchNorm2d>(backend, block.channels));
      add(std::make_unique<ReLU>(backend));
      if (block.pool > 1) add(std::make_unique<MaxPool2d>(backend, block.pool, block.pool));
    }
  } else if (spec.type != "mlp") {
    throw Error("unknown model type '" + spec.type + "' (allowed: mlp, cnn)");
  }
  add(std::make_unique<Flatten>(backend));
  for (std::size_t i = 0; i < spec.hidden.size(); ++i) {
    add(std::make_unique<Linear>(backend, shape[1], spec.hidden[i], rng));
    add(std::make_unique<ReLU>(backend));
  }
  if (spec.dropout > 0.0) {
    add(std::make_unique<Dropout>(backend, static_cast<float>(spec.dropout), rng()));
  }
  add(std::make_unique<Linear>(backend, shape[1], classes, rng));
  return model;
}

}  // namespace tb::nn
