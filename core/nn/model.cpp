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
  layer->set_storage(storage_, &workspace_);
  for (Parameter* p : layer->parameters()) {
    p->name = std::to_string(layers_.size()) + "." + p->name;
    if (low_precision()) p->working = backend_.empty(p->value.shape(), storage_);
  }
  layers_.push_back(std::move(layer));
}

void Model::set_storage(tensor::DType storage) {
  if (storage != tensor::DType::f32 && storage != tensor::DType::f16 &&
      storage != tensor::DType::bf16) {
    throw Error(std::string("Model: activations cannot be stored as ") +
                tensor::dtype_name(storage));
  }
  storage_ = storage;
  for (auto& layer : layers_) layer->set_storage(storage_, &workspace_);
  for (Parameter* p : parameters()) {
    if (low_precision()) {
      p->working = backend_.empty(p->value.shape(), storage_);  // the master's shape
    } else {
      p->working = Tensor();
    }
  }
}

void Model::refresh_working_weights() {
  // The optimizer changed the masters since the last forward: round them afresh (never the
  // working copy again, so rounding errors do not accumulate).
  for (Parameter* p : parameters()) backend_.convert(p->value, p->working);
}

const Tensor& Model::forward(const Tensor& x, bool training) {
  if (!low_precision()) {
    input_bytes_ = x.bytes();
    const Tensor* h = &x;
    for (auto& layer : layers_) h = &layer->forward(*h, training);
    return *h;
  }
  refresh_working_weights();
  backend_.ensure(x16_, x.shape(), storage_);
  backend_.convert(x, x16_);
  const Tensor* h = &x16_;
  for (auto& layer : layers_) h = &layer->forward(*h, training);
  // The loss and metrics take f32: widen the (already rounded) logits.
  backend_.ensure(logits_, h->shape());
  backend_.convert(*h, logits_);
  return logits_;
}

void Model::backward(const Tensor& dlogits, float loss_scale) {
  const Tensor* g = &dlogits;
  if (loss_scale != 1.0f || low_precision()) {
    backend_.ensure(dlogits_, dlogits.shape());
    backend_.copy(dlogits, dlogits_);
    if (loss_scale != 1.0f) backend_.scale(dlogits_, loss_scale);
    backend_.round_to(dlogits_, storage_);
    g = &dlogits_;
  }
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    g = &(*it)->backward(*g);
    if (gradient_ready_) {
      for (Parameter* p : (*it)->parameters()) gradient_ready_(*p);
    }
    // A GPU path stores activation gradients in the storage dtype: round them the same way, so
    // that fp16 overflows (inf) and underflows (0) happen here as they would there. The tensor
    // belongs to the layer (or is a view of the one after it), so rounding it in place is safe
    // and idempotent.
    if (low_precision() && g->defined()) backend_.round_to(const_cast<Tensor&>(*g), storage_);
  }
}

std::size_t Model::activation_bytes() const {
  std::size_t bytes =
      low_precision() ? x16_.storage_bytes() + logits_.storage_bytes() : input_bytes_;
  for (const auto& layer : layers_) bytes += layer->held_bytes();
  return bytes;
}

std::size_t Model::workspace_bytes() const {
  return workspace_.in.storage_bytes() + workspace_.out.storage_bytes() +
         workspace_.weight.storage_bytes() + workspace_.bias.storage_bytes() +
         workspace_.grad16.storage_bytes();
}

std::size_t Model::weight_bytes() {
  std::size_t bytes = 0;
  for (const Parameter* p : parameters())
    bytes += p->value.storage_bytes() + p->working.storage_bytes();
  return bytes;
}

void Model::set_training_steps_done(std::uint64_t steps) {
  for (auto& layer : layers_) layer->set_training_steps_done(steps);
}

std::vector<Parameter*> Model::parameters() {
  std::vector<Parameter*> all;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    for (Parameter* p : layers_[i]->parameters()) all.push_back(p);
  }
  return all;
}

std::vector<Parameter*> Model::parameters_in_gradient_order() {
  std::vector<Parameter*> ordered;
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    for (Parameter* p : (*it)->parameters()) ordered.push_back(p);
  }
  return ordered;
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
