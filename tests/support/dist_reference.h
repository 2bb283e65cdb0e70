// What the parallel-training tests compare against, shared by the world-of-one tests (test_dist)
// and the MPI ones (test_dist_mpi): a random batch every rank draws alike, and the unsplit model
// on a batch cut into micro-batches the way dist::PipelineStage cuts it, and one forward and
// backward keeping the first Linear's input gradient. Header-only.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/nn/loss.h"
#include "core/nn/model.h"

namespace tb::testing {

struct RandomBatch {
  tensor::Tensor x;       // f32 [rows, sample...], standard normal
  tensor::Tensor labels;  // i32 [rows], in [0, classes)
};

// The same batch on every rank: drawn from `seed` alone.
inline RandomBatch make_random_batch(tensor::Backend& cpu, const tensor::Shape& sample,
                                     std::int64_t rows, std::int64_t classes, std::uint64_t seed) {
  std::vector<std::int64_t> dims{rows};
  dims.insert(dims.end(), sample.dims().begin(), sample.dims().end());
  RandomBatch b{cpu.empty(tensor::Shape(dims)), cpu.empty({rows}, tensor::DType::i32)};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (std::int64_t i = 0; i < b.x.numel(); ++i) b.x.data()[i] = normal(rng);
  for (std::int64_t i = 0; i < rows; ++i) {
    b.labels.data_i32()[i] = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(classes));
  }
  return b;
}

// Rows [begin, begin + rows) of a host tensor, copied.
inline tensor::Tensor rows_of(tensor::Backend& cpu, const tensor::Tensor& t, std::int64_t begin,
                              std::int64_t rows) {
  std::vector<std::int64_t> dims = t.shape().dims();
  const std::int64_t width = t.numel() / dims[0];
  dims[0] = rows;
  tensor::Tensor out = cpu.empty(tensor::Shape(dims), t.dtype());
  const std::size_t bytes = tensor::dtype_size(t.dtype());
  std::memcpy(out.raw(), static_cast<const char*>(t.raw()) + begin * width * bytes,
              static_cast<std::size_t>(rows * width) * bytes);
  return out;
}

// The unsplit model accumulating m micro-batches of x [N, ...] / labels i32 [N] (sizes as the
// pipeline splits them: N / m, the first N % m one more), with the Dropout counter the pipeline
// gives micro-batch k of step t (t * m + k). Returns the batch's mean loss; leaves the summed
// gradients in `grads` (by parameter name).
inline float accumulate_microbatches(tensor::Backend& cpu, nn::Model& model,
                                     const tensor::Tensor& x, const tensor::Tensor& labels, int m,
                                     std::uint64_t step,
                                     std::map<std::string, std::vector<float>>& grads) {
  nn::SoftmaxCrossEntropy ce(cpu);
  const std::int64_t n = x.shape()[0];
  grads.clear();
  double loss = 0.0;
  std::int64_t begin = 0;
  for (int k = 0; k < m; ++k) {
    const std::int64_t rows = n / m + (k < n % m ? 1 : 0);
    model.set_training_steps_done(step * static_cast<std::uint64_t>(m) + k);
    const tensor::Tensor& logits = model.forward(rows_of(cpu, x, begin, rows), true);
    const double share = static_cast<double>(rows) / static_cast<double>(n);
    loss += share * ce.forward(logits, rows_of(cpu, labels, begin, rows));
    tensor::Tensor dlogits = cpu.empty(logits.shape());
    cpu.copy(ce.backward(), dlogits);
    cpu.scale(dlogits, static_cast<float>(share));
    model.backward(dlogits);
    for (nn::Parameter* p : model.parameters()) {
      auto& g = grads[p->name];
      g.resize(static_cast<std::size_t>(p->grad.numel()), 0.0f);
      for (std::size_t i = 0; i < g.size(); ++i) g[i] += p->grad.data()[i];
    }
    begin += rows;
  }
  return static_cast<float>(loss);
}

// A host tensor's elements, copied.
inline std::vector<float> host(const tensor::Tensor& t) {
  return {t.data(), t.data() + t.numel()};
}

// One training forward and backward of a model (split or not) on a batch: what the
// tensor-parallel tests compare.
struct ForwardBackward {
  float loss = 0.0f;
  std::vector<float> logits;
  std::vector<float> dx_first;  // input gradient of layer 1 (the first Linear)
};

inline ForwardBackward forward_backward(nn::Model& model, tensor::Backend& cpu,
                                        const RandomBatch& batch) {
  nn::SoftmaxCrossEntropy loss(cpu);
  ForwardBackward r;
  const tensor::Tensor& logits = model.forward(batch.x, true);
  r.logits = host(logits);
  r.loss = loss.forward(logits, batch.labels);
  const tensor::Tensor* g = &loss.backward();
  // Model::backward's fp32 loop, by hand, to keep the first Linear's input gradient.
  const auto& layers = model.layers();
  for (std::size_t i = layers.size(); i-- > 0;) {
    g = &layers[i]->backward(*g);
    if (i == 1) r.dx_first = host(*g);
  }
  return r;
}

}  // namespace tb::testing
