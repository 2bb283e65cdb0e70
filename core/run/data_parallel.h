// DataParallel: one rank's part in data-parallel training, PyTorch DDP's recipe on the
// Communicator: every rank holds the whole model, rank 0's parameters are broadcast at the start,
// each rank trains on its slice of every global batch (DataShard), and the gradients are
// averaged in buckets whose all-reduce starts during backward, as soon as backward has written
// a bucket's last gradient (dist::GradientBuckets), so communication hides under the rest of
// backward. Internal to core/run.
//
// A rank's slice of the last global batch may be short, or empty: its gradient is weighted by its
// share of the global batch (gradient_weight), so N ranks of batch b compute the update one
// process of batch N*b does, and an empty slice still joins every collective with zero gradients.
//
// On GPUs each rank takes the GPU of its local rank (data_parallel_device) and the gradients and
// parameters travel through NCCL (dist::TensorCommunicator); the loss and everything else on the
// host go through the host world (MPI).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dist/communicator.h"
#include "core/dist/gradient_buckets.h"
#include "core/dist/tensor_communicator.h"
#include "core/nn/layer.h"
#include "core/run/workload.h"

namespace tb::run::detail {

// The device a data-parallel rank trains on, from the project's `device`: "cuda" (and "auto"
// where it means the GPU) becomes "cuda:<local rank>", one GPU a process as NCCL needs; "cpu" and
// an explicit "cuda:N" stay as they are.
std::string data_parallel_device(std::string_view project_device);

class DataParallel {
 public:
  // The workload's dense parameters (tensors of `backend`), bucketed in the order backward
  // finishes them. host: the world of ranks; the tensors travel through it (CPU) or through
  // NCCL bootstrapped over it (GPU). Installs the workload's gradient-ready hook; the destructor
  // removes it.
  DataParallel(dist::Communicator& host, tensor::Backend& backend, Workload& work,
               double bucket_mib);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Rank 0's parameter values on every rank.
  void broadcast_parameters();
  // What this rank's mean gradient over `local` samples is multiplied by (through the loss
  // scale) before the ranks' average: local * ranks / global, so the average is the mean over
  // the global batch's samples.
  float gradient_weight(std::int64_t local, std::int64_t global) const;
  // After backward (computed) or in its place for an empty slice (zero gradients): starts what
  // backward did not start, waits, and leaves every rank with the global batch's mean gradient.
  void reduce_gradients(bool computed);
  // The global batch's mean loss, from this rank's mean over its `local` samples.
  float global_loss(float local_loss, std::int64_t local, std::int64_t global);

  const dist::GradientBuckets& buckets() const { return buckets_; }
  // What carries the gradients: "mpi", "nccl", "local".
  std::string transport() { return tensors_.get().name(); }

 private:
  dist::Communicator& host_;
  tensor::Backend& backend_;
  dist::TensorCommunicator tensors_;
  Workload& work_;
  std::vector<nn::Parameter*> parameters_;  // in the order backward finishes them
  dist::GradientBuckets buckets_;
};

}  // namespace tb::run::detail
