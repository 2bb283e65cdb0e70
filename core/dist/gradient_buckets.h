// GradientBuckets: gradients averaged across the ranks of a data-parallel run, in buckets, as
// PyTorch's DistributedDataParallel does.
//
// Parameters are put in buckets of about `bucket_bytes` (DDP's default 25 MiB) in the order
// backward produces their gradients (the last layer's first). When backward has written every
// gradient of a bucket (mark_ready), the bucket is packed into one flat buffer and its all-reduce
// starts at once, asynchronously, while backward goes on with the layers before: communication
// hides under compute. finish() waits for the buckets, unpacks the averages into the gradients,
// and says how long it had to wait (the part of communication that was not hidden).
//
// The buckets live where the gradients do, and are packed and unpacked by the gradients' backend
// (Backend::copy_range): host gradients through the local or MPI world, GPU gradients through
// the NCCL communicator (gpu/nccl_communicator.h), whose all-reduce waits on the device for the
// backend's packing kernels (NcclCommunicator::set_producer_stream), never on the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/dist/communicator.h"
#include "core/tensor/backend.h"
#include "core/tensor/tensor.h"

namespace tb::dist {

inline constexpr std::size_t kDefaultBucketBytes = 25u << 20;

class GradientBuckets {
 public:
  struct Bucket {
    std::vector<std::size_t> members;  // indices into the gradient list, in backward order
    std::size_t elements = 0;
  };

  // grads: the parameters' gradients in the order backward finishes them, f32 tensors of
  // `backend`; they must stay alive and keep their shapes. comm carries that backend's memory.
  // A gradient larger than bucket_bytes gets a bucket of its own.
  GradientBuckets(Communicator& comm, tensor::Backend& backend, std::vector<tensor::Tensor*> grads,
                  std::size_t bucket_bytes = kDefaultBucketBytes);
  ~GradientBuckets();
  GradientBuckets(const GradientBuckets&) = delete;
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  // Gradient `index` is final for this step; a bucket whose gradients are all final starts its
  // all-reduce once every bucket before it has started (the same order on every rank, as MPI
  // needs). Marking one twice in a step throws tb::Error.
  void mark_ready(std::size_t index);
  // Starts what was not started, waits for every bucket, and writes the rank-averaged gradients
  // back. Ready for the next step afterwards.
  void finish();

  const std::vector<Bucket>& buckets() const { return buckets_; }
  // Buckets whose all-reduce started from mark_ready (overlapping backward) in the last step.
  std::size_t started_early() const { return last_started_early_; }
  // Seconds finish() waited for communication in the last step (what was not hidden).
  double exposed_wait_s() const { return exposed_wait_s_; }
  // Seconds the last step's all-reduces ran, one after the other, and the part of that before
  // finish() was called: communication hidden under the rest of backward. hidden / communication
  // is the overlap share. Both 0 in a world of one, where nothing runs.
  double communication_s() const { return communication_s_; }
  double hidden_s() const { return hidden_s_; }

 private:
  void start(std::size_t bucket);

  Communicator& comm_;
  tensor::Backend& backend_;
  std::vector<tensor::Tensor*> grads_;
  std::vector<Bucket> buckets_;
  std::vector<std::size_t> bucket_of_;  // gradient index -> bucket
  std::vector<tensor::Tensor> flat_;    // per bucket: [elements], its gradients one after another
  std::vector<std::size_t> pending_;    // per bucket: gradients not yet ready
  std::vector<bool> ready_;             // per gradient, this step
  std::size_t next_start_ = 0;          // buckets [0, next_start_) have started this step
  std::vector<std::unique_ptr<Communicator::Request>> requests_;  // per bucket, once started
  std::size_t started_early_ = 0;                                 // this step, so far
  std::size_t last_started_early_ = 0;                            // the last finished step
  double exposed_wait_s_ = 0.0;
  double communication_s_ = 0.0;
  double hidden_s_ = 0.0;
};

}  // namespace tb::dist
