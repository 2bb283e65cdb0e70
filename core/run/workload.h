// Workload: what the Runner trains — a dataset with its batches and a model on them — behind one
// interface, so the training loop does not care whether a batch is a dense tensor (Fashion-MNIST
// images into nn::Model) or sparse rows (bag-of-words features, user and item ids into
// nn::SparseModel). Internal to core/run.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dist/communicator.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/nn/sparse.h"
#include "core/run/project.h"
#include "core/store/session_store.h"
#include "core/trace/recorder.h"

namespace tb::run::detail {

struct Evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
};

class Workload {
 public:
  virtual ~Workload() = default;

  // ---- data ----
  virtual std::string train_name() const = 0;  // for the "no training samples" error
  virtual std::int64_t train_size() const = 0;
  virtual std::int64_t test_size() const = 0;
  // Fingerprints and sizes of the data, stored as session params.
  virtual store::Params dataset_params() const = 0;
  // Batches in an epoch; with an inexact epoch length (streaming with deduplication) the most
  // there can be, and an epoch may end before.
  virtual std::int64_t batches_per_epoch() const = 0;
  virtual bool exact_epoch_length() const { return true; }
  virtual void start_epoch(std::int64_t epoch) = 0;  // 0-based
  // Passes over the epoch's first `batches` (resuming inside an epoch).
  virtual void skip(std::int64_t batches) = 0;
  // Loads the next training batch (and uploads it); its size, 0 at the end of the epoch.
  virtual std::int64_t next_batch() = 0;
  // i32 [N]: the loaded batch's labels.
  virtual const tensor::Tensor& labels() const = 0;
  // Batches decoded ahead and waiting, where a data pipeline feeds the run; -1 otherwise.
  virtual std::int64_t loader_queue_depth() const { return -1; }
  // Data parallelism (DataShard): the samples of the global batch next_batch() last took a slice
  // of, over every rank; the loaded batch's size in a world of one. 0 past the epoch's end.
  virtual std::int64_t global_batch_size() const = 0;
  // The pipeline's counts at the end of a run (decoded, cache hits, skipped records).
  virtual store::Params loader_params() const { return {}; }

  // ---- model ----
  // The loaded batch's logits [N, classes].
  virtual const tensor::Tensor& forward(bool training) = 0;
  virtual void backward(const tensor::Tensor& dlogits, float loss_scale) = 0;
  // See nn::Model::set_gradient_ready; dense models only (data parallelism).
  virtual void set_gradient_ready(std::function<void(nn::Parameter&)> ready);
  // parameters() in the order the gradient-ready hook is called.
  virtual std::vector<nn::Parameter*> parameters_in_gradient_order();
  // The dense model and the loaded batch's features [N, sample...] (pipeline stages run the
  // model's layers themselves); null and undefined for sparse models.
  virtual nn::Model* dense_model() { return nullptr; }
  virtual const tensor::Tensor& features() const;
  virtual Evaluation evaluate(nn::SoftmaxCrossEntropy& loss, std::int64_t batch_size) = 0;
  virtual std::vector<nn::Parameter*> parameters() = 0;  // dense gradients
  virtual std::vector<nn::SparseParameter*> sparse_parameters() { return {}; }
  virtual std::string describe() const = 0;
  virtual std::int64_t parameter_count() = 0;
  virtual std::size_t activation_bytes() const = 0;
  virtual std::size_t workspace_bytes() const { return 0; }
  virtual std::size_t weight_bytes() = 0;
  virtual void set_training_steps_done(std::uint64_t /*steps*/) {}
};

// Where this process stands in a parallel run.
// Data parallelism: rank `rank` of `count` data-parallel replicas, each taking its slice of every
// global batch of count * data.batch_size samples (data::LoaderOptions). In the last global batch
// a rank's slice may be short, or empty: next_batch() then returns 0 before the epoch's end, and
// global_batch_size() says the batch still exists.
// Tensor parallelism: `tensor_world` (when set) is the world the model's hidden Linear pairs are
// split over (dist/tensor_parallel.h); every rank reads the whole batch.
struct DataShard {
  int rank = 0;
  int count = 1;
  dist::Communicator* tensor_world = nullptr;
};

// Loads or generates project.data and builds project.model on it (the model's storage dtype set
// from project.precision). Throws tb::Error on bad data or a model that does not fit it. Loader
// workers record their decode spans into `recorder` when given.
std::unique_ptr<Workload> make_workload(tensor::Backend& backend, const Project& project,
                                        trace::Recorder* recorder = nullptr, DataShard shard = {});
// Fashion-MNIST or shards through the data pipeline (dense_workload.cpp).
std::unique_ptr<Workload> make_dense_workload(tensor::Backend& backend, const Project& project,
                                              trace::Recorder* recorder, DataShard shard = {});

}  // namespace tb::run::detail
