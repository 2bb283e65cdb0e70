// Pipeline parallelism: a model's layers split into contiguous stages, one stage a rank, and
// each batch split into micro-batches that flow through the stages on a schedule (GPipe or 1F1B,
// core/dist/pipeline_schedule.h). Activations go forward and activation gradients backward
// between neighbouring ranks through the Communicator's send_async / recv_async.
//
// What a step computes is what the unsplit model computes on the whole batch: the loss is
// sum_k (n_k / N) * loss_k, the full-batch mean, and each parameter's gradient is the sum over the
// micro-batches of its gradient with dlogits scaled by n_k / N. Only the order of summation
// differs, so the results agree to fp32 rounding (tests/dist/pipeline_test.cpp checks it on 2, 3
// and 4 ranks). Two things a micro-batch changes, as in every micro-batching scheme: BatchNorm
// normalises with each micro-batch's statistics, and Dropout draws a mask per micro-batch (see
// PipelineStage::train_step); with one micro-batch both are the unsplit model's own.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/dist/communicator.h"
#include "core/dist/pipeline_schedule.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/tensor/backend.h"

namespace tb::nn {
class BatchNorm2d;
}

namespace tb::dist {

// Layers [begin, end) of a model: one pipeline stage.
struct StageRange {
  int begin = 0;
  int end = 0;
  bool operator==(const StageRange&) const = default;
};

// Splits the model's layers into `stages` contiguous ranges of at least one layer each, so that
// the heaviest stage is as light as it can be (ties: the most even split). A layer weighs its
// parameter count plus a small constant (1/16 of the mean parameters a layer, at least 1), so
// that parameterless layers (ReLU, Flatten, pooling), which still cost time and activations,
// spread over the stages instead of piling onto one. Throws tb::Error when stages < 1 or the
// model has fewer layers than stages.
std::vector<StageRange> split_stages(const nn::Model& model, int stages);

// What one pipelined step did, on this rank.
struct PipelineStepResult {
  float loss = 0.0f;       // the full-batch mean loss, the same on every rank
  double compute_s = 0.0;  // this stage's forwards, backwards, loss, staging copies, accumulation
  double idle_s = 0.0;     // waiting: for a neighbour's activation or gradient, and at the flush
  double wall_s = 0.0;     // the whole step on this rank
  double measured_bubble = 0.0;   // idle_s / wall_s
  double predicted_bubble = 0.0;  // (p - 1) / (m + p - 1), see predicted_bubble()
  int recomputed_forwards = 0;    // re-materialised micro-batch forwards (see train_step)
};

// One rank's stage of a pipeline-parallel model.
//
// Every rank builds the FULL model with the same seed, so every stage's weights are the unsplit
// model's, and hands it here; the stage runs only its own layers (split_stages(model, stages),
// range stage = comm.rank()). Memory cost of that simplicity: each rank holds all the weights
// and parameter gradients (p times a stage's share), though only its own layers hold activations;
// on top, the stage keeps one gradient accumulator per parameter of its own, and host staging
// buffers for the whole batch's activations and gradients at its two boundaries (received and
// sent, N x the boundary width each), which is also where the saved stage inputs live.
//
// Layers keep only the last forward's state for backward (core/nn/layer.h), so before B(k) the
// stage re-runs its forward for micro-batch k from the saved stage input unless its layers still
// hold k: GPipe's re-materialisation (activation checkpointing at stage boundaries). Its cost is
// up to one extra forward a micro-batch (counted in PipelineStepResult::recomputed_forwards); its
// gain is that on both schedules the layers hold one micro-batch's activations, not m. Dropout
// masks are replayed exactly (the layers' call counter is set before every forward of k), and
// BatchNorm's running statistics are restored after a re-materialised forward, so each micro-batch
// updates them once.
//
// Deadlock freedom, for any p and m (m < p included): every receive of a step is posted when the
// step starts, into its own slice of the staging buffers, and sends are only waited for at the
// end of the step; so a stage only ever waits for data whose sender's schedule does not wait on
// this stage first (both schedules' dependency graphs are acyclic).
//
// fp32 only, host staging (the Communicator moves host floats): a model that stores activations
// in 16 bits is refused. A failure inside a step on one rank (a layer throwing) leaves its
// neighbours waiting, as any MPI failure does; bad input is checked on every rank first.
class PipelineStage {
 public:
  // stages must be comm.size() (one stage a rank); 1 <= microbatches <= kMaxMicrobatches.
  // Makes every layer of a stage after the first compute its input gradient (the stage before
  // needs it). Throws tb::Error on a 16-bit model, a bad count, or more stages than layers.
  PipelineStage(Communicator& comm, tensor::Backend& backend, nn::Model& model, int stages,
                int microbatches, PipelineSchedule schedule);
  ~PipelineStage();
  PipelineStage(const PipelineStage&) = delete;
  PipelineStage& operator=(const PipelineStage&) = delete;

  // Message tags are kTagBase + 2k (activation of micro-batch k) and + 1 (its gradient).
  static constexpr int kTagBase = 4096;
  static constexpr int kMaxMicrobatches = 8192;

  // One training step on a batch of N samples, called by every rank together.
  // x: f32 [N, sample_shape...], read on stage 0 only (other stages may pass an undefined
  // tensor); labels: i32 [N], read on the last stage only (others may pass an undefined tensor).
  // N (at most 2^24) comes to the other stages from stage 0. The batch is split into m
  // micro-batches of sizes that differ by at most one (the first N % m one larger); N < m, or
  // labels of another length, throws tb::Error on every rank. Afterwards each of parameters()
  // holds in `grad` its gradient summed over the micro-batches (the full-batch gradient), and
  // the loss is on every rank. Dropout draws micro-batch k of step t with call counter
  // t * m + k + 1 (the unsplit model after set_training_steps_done(t * m + k)).
  PipelineStepResult train_step(const tensor::Tensor& x, const tensor::Tensor& labels,
                                nn::SoftmaxCrossEntropy& loss);

  // This stage's parameters, in model order (what its optimizer updates).
  std::vector<nn::Parameter*> parameters();

  int stage() const { return stage_; }
  int stages() const { return stages_; }
  int microbatches() const { return microbatches_; }
  PipelineSchedule schedule() const { return schedule_; }
  StageRange layers() const { return range_; }
  // A resumed session: `steps` pipelined steps already happened (Dropout continues its sequence).
  void set_training_steps_done(std::uint64_t steps) { steps_ = steps; }
  std::uint64_t training_steps_done() const { return steps_; }

 private:
  std::int64_t agree_on_batch(const tensor::Tensor& x, const tensor::Tensor& labels);
  void forward_microbatch(int k, bool recompute);
  void run_forward(int k, nn::SoftmaxCrossEntropy& loss, double& loss_sum, double& compute,
                   double& idle);
  void run_backward(int k, double& compute, double& idle);
  tensor::Shape in_shape(std::int64_t rows) const;
  tensor::Shape out_shape(std::int64_t rows) const;

  Communicator& comm_;
  tensor::Backend& backend_;
  nn::Model& model_;
  int stage_ = 0, stages_ = 1, microbatches_ = 1;
  PipelineSchedule schedule_;
  StageRange range_;
  std::vector<PipelineOp> ops_;
  std::vector<std::int64_t> in_dims_, out_dims_;  // one sample at the stage's input and output
  std::int64_t in_width_ = 0, out_width_ = 0;     // their element counts
  std::vector<nn::Parameter*> params_;
  std::vector<nn::BatchNorm2d*> batchnorms_;
  std::uint64_t steps_ = 0;

  // The step's micro-batches: rows_[k] samples from row offset_[k] of the batch.
  std::int64_t batch_ = 0;
  std::vector<std::int64_t> rows_, offset_;
  int held_ = -1;  // the micro-batch whose forward the layers hold, -1 none
  int recomputed_ = 0;
  const tensor::Tensor* out_ = nullptr;  // [rows, out_dims...]: the last forward's output

  // Device tensors, sized for the largest micro-batch and used through prefix views.
  tensor::Tensor in_buf_, in_;            // [rows, in_dims...]: the stage input being run
  tensor::Tensor dy_buf_, dy_;            // [rows, out_dims...]: the output gradient being run
  tensor::Tensor labels_buf_, labels_;    // i32 [rows], last stage only
  std::vector<tensor::Tensor> acc_;       // one per parameter, its shape: the summed gradient
  tensor::Tensor one_;                    // [1, 1] = 1: acc += grad as a rank-1 product
  std::vector<tensor::Tensor> bn_saved_;  // per BatchNorm: running mean, running var ([C] each)

  // Host staging for the whole batch, micro-batch k at rows offset_[k]:
  std::vector<float> act_in_;    // [N, in_width]: received activations (stage 0: x); saved inputs
  std::vector<float> grad_in_;   // [N, out_width]: received gradients (last stage: scaled dlogits)
  std::vector<float> act_out_;   // [N, out_width]: activations sent to the next stage
  std::vector<float> grad_out_;  // [N, in_width]: input gradients sent to the previous stage
  std::vector<std::int32_t> labels_host_;  // [N], last stage only
  // Declared after the buffers they write into, so they are destroyed (waited for) first.
  std::vector<std::unique_ptr<Communicator::Request>> act_recv_, grad_recv_;  // [m] each
  std::vector<std::unique_ptr<Communicator::Request>> sends_;
};

}  // namespace tb::dist
