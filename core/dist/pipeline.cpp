#include "core/dist/pipeline.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>
#include <span>
#include <string>

#include "core/nn/conv.h"
#include "core/util/error.h"

namespace tb::dist {
namespace {

using Clock = std::chrono::steady_clock;
using tensor::DType;
using tensor::Shape;
using tensor::Tensor;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Runs f and adds its duration to `total`.
template <typename F>
void timed(double& total, F&& f) {
  const auto start = Clock::now();
  f();
  total += seconds_since(start);
}

std::int64_t parameter_count(nn::Layer& layer) {
  std::int64_t count = 0;
  for (const nn::Parameter* p : layer.parameters()) count += p->value.numel();
  return count;
}

int tag_of_activation(int k) {
  return PipelineStage::kTagBase + 2 * k;
}
int tag_of_gradient(int k) {
  return PipelineStage::kTagBase + 2 * k + 1;
}

// The largest N the batch-size agreement carries exactly (it travels as a float).
constexpr std::int64_t kMaxBatch = std::int64_t{1} << 24;

}  // namespace

std::vector<StageRange> split_stages(const nn::Model& model, int stages) {
  const auto& layers = model.layers();
  const int count = static_cast<int>(layers.size());
  if (stages < 1) {
    throw Error("split_stages: the stage count must be at least 1, got " + std::to_string(stages));
  }
  if (stages > count) {
    throw Error("split_stages: " + std::to_string(stages) + " stages need at least as many " +
                "layers, the model has " + std::to_string(count) + " (" + model.describe() + ")");
  }
  std::vector<std::int64_t> weight(count);
  std::int64_t total = 0;
  for (int i = 0; i < count; ++i) total += weight[i] = parameter_count(*layers[i]);
  const std::int64_t overhead = std::max<std::int64_t>(1, total / (16 * count));
  std::vector<std::int64_t> prefix(count + 1, 0);  // prefix[i]: weight of layers [0, i)
  for (int i = 0; i < count; ++i) prefix[i + 1] = prefix[i] + weight[i] + overhead;

  // best[j][i]: the best split of layers [0, i) into j stages, as (heaviest stage, sum of squared
  // stage weights), compared in that order; cut[j][i]: where its last stage begins.
  struct Cost {
    std::int64_t heaviest = std::numeric_limits<std::int64_t>::max();
    double squares = 0.0;
    bool operator<(const Cost& o) const {
      return heaviest != o.heaviest ? heaviest < o.heaviest : squares < o.squares;
    }
  };
  std::vector<std::vector<Cost>> best(stages + 1, std::vector<Cost>(count + 1));
  std::vector<std::vector<int>> cut(stages + 1, std::vector<int>(count + 1, 0));
  best[0][0] = {0, 0.0};
  for (int j = 1; j <= stages; ++j) {
    // j stages need at least j layers, and leave at least one layer to each later stage.
    for (int i = j; i <= count - (stages - j); ++i) {
      for (int b = j - 1; b < i; ++b) {
        const Cost& before = best[j - 1][b];
        if (before.heaviest == std::numeric_limits<std::int64_t>::max()) continue;
        const std::int64_t w = prefix[i] - prefix[b];
        const Cost candidate{std::max(before.heaviest, w),
                             before.squares + static_cast<double>(w) * static_cast<double>(w)};
        if (candidate < best[j][i]) {
          best[j][i] = candidate;
          cut[j][i] = b;
        }
      }
    }
  }
  std::vector<StageRange> ranges(stages);
  int end = count;
  for (int j = stages; j >= 1; --j) {
    ranges[j - 1] = {cut[j][end], end};
    end = cut[j][end];
  }
  return ranges;
}

PipelineStage::PipelineStage(Communicator& comm, tensor::Backend& backend, nn::Model& model,
                             int stages, int microbatches, PipelineSchedule schedule)
    : comm_(comm),
      backend_(backend),
      model_(model),
      stage_(comm.rank()),
      stages_(stages),
      microbatches_(microbatches),
      schedule_(schedule) {
  if (stages != comm.size()) {
    throw Error("pipeline: " + std::to_string(stages) + " stages over a world of " +
                std::to_string(comm.size()) + " ranks (one stage a rank: the stage count must " +
                "be the world's size)");
  }
  if (microbatches < 1 || microbatches > kMaxMicrobatches) {
    throw Error("pipeline: " + std::to_string(microbatches) + " micro-batches (allowed: 1 to " +
                std::to_string(kMaxMicrobatches) + ")");
  }
  if (model.storage() != DType::f32) {
    throw Error(std::string("pipeline: the model stores activations as ") +
                tensor::dtype_name(model.storage()) +
                "; pipeline parallelism runs fp32 models only (set precision to fp32)");
  }
  range_ = split_stages(model, stages)[stage_];
  ops_ = pipeline_ops(schedule, stage_, stages_, microbatches_);

  // Follow one sample's shape through the layers before and inside this stage.
  const auto& layers = model.layers();
  std::vector<std::int64_t> dims{1};
  dims.insert(dims.end(), model.sample_shape().dims().begin(), model.sample_shape().dims().end());
  Shape shape(dims);
  for (int i = 0; i < range_.begin; ++i) shape = layers[i]->output_shape(shape);
  in_dims_.assign(shape.dims().begin() + 1, shape.dims().end());
  in_width_ = shape.inner();
  for (int i = range_.begin; i < range_.end; ++i) shape = layers[i]->output_shape(shape);
  out_dims_.assign(shape.dims().begin() + 1, shape.dims().end());
  out_width_ = shape.inner();

  for (int i = range_.begin; i < range_.end; ++i) {
    nn::Layer& layer = *layers[i];
    // The previous stage needs this stage's input gradient; inside the stage every layer then
    // needs its own (the model only skipped it before its first trainable layer).
    if (stage_ > 0) layer.set_needs_input_grad(true);
    for (nn::Parameter* p : layer.parameters()) {
      params_.push_back(p);
      acc_.push_back(backend_.empty(p->value.shape()));
    }
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&layer)) {
      batchnorms_.push_back(bn);
      bn_saved_.push_back(backend_.empty(bn->running_mean().shape()));
      bn_saved_.push_back(backend_.empty(bn->running_var().shape()));
    }
  }
  one_ = backend_.empty({1, 1});
  backend_.fill(one_, 1.0f);
  act_recv_.resize(microbatches_);
  grad_recv_.resize(microbatches_);
}

PipelineStage::~PipelineStage() = default;

std::vector<nn::Parameter*> PipelineStage::parameters() {
  return params_;
}

Shape PipelineStage::in_shape(std::int64_t rows) const {
  std::vector<std::int64_t> dims{rows};
  dims.insert(dims.end(), in_dims_.begin(), in_dims_.end());
  return Shape(dims);
}

Shape PipelineStage::out_shape(std::int64_t rows) const {
  std::vector<std::int64_t> dims{rows};
  dims.insert(dims.end(), out_dims_.begin(), out_dims_.end());
  return Shape(dims);
}

std::int64_t PipelineStage::agree_on_batch(const Tensor& x, const Tensor& labels) {
  // Each rank checks what it was given; then one all-reduce tells every rank the batch size and
  // whether any rank refused its part, so that all of them throw together instead of leaving the
  // others waiting for a message that never comes.
  const bool first = stage_ == 0, last = stage_ == stages_ - 1;
  std::string refusal;
  std::int64_t n = 0, label_count = 0;
  if (first) {
    Shape expected = in_shape(0);
    if (!x.defined()) {
      refusal = "pipeline: stage 0 needs the batch's input x, got an undefined tensor";
    } else if (x.dtype() != DType::f32 || x.shape().rank() != expected.rank() ||
               !std::equal(x.shape().dims().begin() + 1, x.shape().dims().end(),
                           expected.dims().begin() + 1)) {
      expected[0] = x.shape().rank() > 0 ? x.shape()[0] : 0;
      refusal = "pipeline: x is " + std::string(tensor::dtype_name(x.dtype())) + " " +
                x.shape().str() + ", expected f32 " + expected.str();
    } else if (x.shape()[0] > kMaxBatch) {
      refusal = "pipeline: a batch of " + std::to_string(x.shape()[0]) +
                " samples is too large (at most " + std::to_string(kMaxBatch) + ")";
    } else {
      n = x.shape()[0];
    }
  }
  if (last && refusal.empty()) {
    if (!labels.defined() || labels.dtype() != DType::i32 || labels.shape().rank() != 1) {
      refusal = "pipeline: the last stage needs i32 labels [N], got " +
                (labels.defined()
                     ? std::string(tensor::dtype_name(labels.dtype())) + " " + labels.shape().str()
                     : std::string("an undefined tensor"));
    } else {
      label_count = labels.shape()[0];
    }
  }
  // [N from stage 0, label count from the last stage, ranks that refused their part]
  std::array<float, 3> agreed{static_cast<float>(n), static_cast<float>(label_count),
                              refusal.empty() ? 0.0f : 1.0f};
  comm_.all_reduce(agreed, ReduceOp::sum);
  if (!refusal.empty()) throw Error(refusal);
  if (agreed[2] > 0.0f) {
    throw Error("pipeline: another stage refused its part of the batch (its error says why)");
  }
  n = static_cast<std::int64_t>(agreed[0]);
  label_count = static_cast<std::int64_t>(agreed[1]);
  if (n < microbatches_) {
    throw Error("pipeline: a batch of " + std::to_string(n) + " samples cannot be split into " +
                std::to_string(microbatches_) + " micro-batches (at least one sample each)");
  }
  if (label_count != n) {
    throw Error("pipeline: " + std::to_string(label_count) + " labels for a batch of " +
                std::to_string(n) + " samples");
  }
  return n;
}

void PipelineStage::forward_microbatch(int k, bool recompute) {
  const std::int64_t rows = rows_[k];
  in_ = in_buf_.prefix_view(in_shape(rows));
  backend_.upload(in_, act_in_.data() + offset_[k] * in_width_,
                  static_cast<std::size_t>(rows * in_width_) * sizeof(float));
  if (recompute) {
    // A re-run of a forward already counted: keep BatchNorm's running statistics as they are.
    for (std::size_t b = 0; b < batchnorms_.size(); ++b) {
      backend_.copy(batchnorms_[b]->running_mean(), bn_saved_[2 * b]);
      backend_.copy(batchnorms_[b]->running_var(), bn_saved_[2 * b + 1]);
    }
  }
  const auto& layers = model_.layers();
  const Tensor* h = &in_;
  for (int i = range_.begin; i < range_.end; ++i) {
    // The same Dropout mask on the first run and on the re-materialised one.
    layers[i]->set_training_steps_done(steps_ * static_cast<std::uint64_t>(microbatches_) +
                                       static_cast<std::uint64_t>(k));
    h = &layers[i]->forward(*h, /*training=*/true);
  }
  if (recompute) {
    for (std::size_t b = 0; b < batchnorms_.size(); ++b) {
      // Handles share the layer's storage: copying into them restores the statistics in place.
      Tensor mean = batchnorms_[b]->running_mean(), var = batchnorms_[b]->running_var();
      backend_.copy(bn_saved_[2 * b], mean);
      backend_.copy(bn_saved_[2 * b + 1], var);
    }
    ++recomputed_;
  }
  out_ = h;
  held_ = k;
}

void PipelineStage::run_forward(int k, nn::SoftmaxCrossEntropy& loss, double& loss_sum,
                                double& compute, double& idle) {
  if (stage_ > 0) timed(idle, [&] { act_recv_[k]->wait(); });
  const auto start = Clock::now();
  forward_microbatch(k, /*recompute=*/false);
  const std::int64_t rows = rows_[k];
  const std::size_t out_count = static_cast<std::size_t>(rows * out_width_);
  if (stage_ < stages_ - 1) {
    const std::span<float> sent(act_out_.data() + offset_[k] * out_width_, out_count);
    backend_.download(*out_, sent.data(), sent.size_bytes());
    sends_.push_back(comm_.send_async(sent, stage_ + 1, tag_of_activation(k)));
  } else {
    labels_ = labels_buf_.prefix_view({rows});
    backend_.upload(labels_, labels_host_.data() + offset_[k],
                    static_cast<std::size_t>(rows) * sizeof(std::int32_t));
    // This micro-batch's share of the full-batch mean: its loss and dlogits weigh n_k / N.
    const double share = static_cast<double>(rows) / static_cast<double>(batch_);
    loss_sum += share * static_cast<double>(loss.forward(*out_, labels_));
    float* dlogits = grad_in_.data() + offset_[k] * out_width_;
    backend_.download(loss.backward(), dlogits, out_count * sizeof(float));
    const auto scale = static_cast<float>(share);
    for (std::size_t i = 0; i < out_count; ++i) dlogits[i] *= scale;
  }
  compute += seconds_since(start);
}

void PipelineStage::run_backward(int k, double& compute, double& idle) {
  if (stage_ < stages_ - 1) timed(idle, [&] { grad_recv_[k]->wait(); });
  const auto start = Clock::now();
  if (held_ != k) forward_microbatch(k, /*recompute=*/true);
  const std::int64_t rows = rows_[k];
  dy_ = dy_buf_.prefix_view(out_shape(rows));
  backend_.upload(dy_, grad_in_.data() + offset_[k] * out_width_,
                  static_cast<std::size_t>(rows * out_width_) * sizeof(float));
  const auto& layers = model_.layers();
  const Tensor* g = &dy_;
  for (int i = range_.end - 1; i >= range_.begin; --i) g = &layers[i]->backward(*g);
  if (stage_ > 0) {
    const std::span<float> sent(grad_out_.data() + offset_[k] * in_width_,
                                static_cast<std::size_t>(rows * in_width_));
    backend_.download(*g, sent.data(), sent.size_bytes());
    sends_.push_back(comm_.send_async(sent, stage_ - 1, tag_of_gradient(k)));
  }
  // Layers overwrite their gradients: add this micro-batch's into the accumulators. The Backend
  // has no axpy; acc += grad * 1 as an [n, 1] x [1, 1] product is one (exact) op on any device.
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::int64_t n = acc_[i].numel();
    Tensor acc = acc_[i].reshape({n, 1});
    backend_.gemm(params_[i]->grad.reshape({n, 1}), false, one_, false, acc, 1.0f, 1.0f);
  }
  compute += seconds_since(start);
}

PipelineStepResult PipelineStage::train_step(const Tensor& x, const Tensor& labels,
                                             nn::SoftmaxCrossEntropy& loss) {
  const auto step_start = Clock::now();
  PipelineStepResult result;
  result.predicted_bubble = predicted_bubble(stages_, microbatches_);
  double compute = 0.0, idle = 0.0;
  const bool first = stage_ == 0, last = stage_ == stages_ - 1;

  // Waiting for the other stages to agree on the batch is idle time like any other wait.
  timed(idle, [&] { batch_ = agree_on_batch(x, labels); });
  const int m = microbatches_;
  rows_.assign(m, batch_ / m);
  offset_.assign(m, 0);
  for (int k = 0; k < m; ++k) {
    if (k < batch_ % m) ++rows_[k];
    if (k > 0) offset_[k] = offset_[k - 1] + rows_[k - 1];
  }
  const std::int64_t max_rows = rows_[0];

  const auto setup_start = Clock::now();
  // Device buffers for the largest micro-batch (ensure reallocates only when N or m changed).
  backend_.ensure(in_buf_, in_shape(max_rows));
  backend_.ensure(dy_buf_, out_shape(max_rows));
  if (last) backend_.ensure(labels_buf_, {max_rows}, DType::i32);
  const auto n = static_cast<std::size_t>(batch_);
  act_in_.resize(n * static_cast<std::size_t>(in_width_));
  grad_in_.resize(n * static_cast<std::size_t>(out_width_));
  if (!last) act_out_.resize(n * static_cast<std::size_t>(out_width_));
  if (!first) grad_out_.resize(n * static_cast<std::size_t>(in_width_));
  if (first) backend_.download(x, act_in_.data(), act_in_.size() * sizeof(float));
  if (last) {
    labels_host_.resize(n);
    backend_.download(labels, labels_host_.data(), n * sizeof(std::int32_t));
  }
  // Every receive of the step, posted now into its own slice (see the header: no deadlock).
  for (int k = 0; k < m; ++k) {
    if (!first) {
      const std::span<float> into(act_in_.data() + offset_[k] * in_width_,
                                  static_cast<std::size_t>(rows_[k] * in_width_));
      act_recv_[k] = comm_.recv_async(into, stage_ - 1, tag_of_activation(k));
    }
    if (!last) {
      const std::span<float> into(grad_in_.data() + offset_[k] * out_width_,
                                  static_cast<std::size_t>(rows_[k] * out_width_));
      grad_recv_[k] = comm_.recv_async(into, stage_ + 1, tag_of_gradient(k));
    }
  }
  for (Tensor& acc : acc_) backend_.fill(acc, 0.0f);
  held_ = -1;  // whatever the layers ran before this step, it was not this batch
  recomputed_ = 0;
  sends_.clear();
  compute += seconds_since(setup_start);

  double loss_sum = 0.0;
  for (const PipelineOp& op : ops_) {
    if (op.kind == PipelineOp::Kind::forward) {
      run_forward(op.microbatch, loss, loss_sum, compute, idle);
    } else {
      run_backward(op.microbatch, compute, idle);
    }
  }

  timed(compute, [&] {
    for (std::size_t i = 0; i < params_.size(); ++i) backend_.copy(acc_[i], params_[i]->grad);
  });
  // The flush: this stage's sends land, and every stage waits for the slowest one, which is
  // also how the loss reaches every rank (the other stages add zero).
  std::array<float, 1> loss_value{last ? static_cast<float>(loss_sum) : 0.0f};
  timed(idle, [&] {
    for (auto& send : sends_) send->wait();
    comm_.all_reduce(loss_value, ReduceOp::sum);
  });
  sends_.clear();
  for (auto& request : act_recv_) request.reset();
  for (auto& request : grad_recv_) request.reset();
  ++steps_;

  result.loss = loss_value[0];
  result.compute_s = compute;
  result.idle_s = idle;
  result.wall_s = seconds_since(step_start);
  result.measured_bubble = result.wall_s > 0.0 ? idle / result.wall_s : 0.0;
  result.recomputed_forwards = recomputed_;
  return result;
}

}  // namespace tb::dist
