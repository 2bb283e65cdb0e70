// BatchUploader: the loader's batches onto a device, one batch ahead.
//
// When step k takes its batch, the upload of batch k+1 is started at once (Backend::upload_async:
// on CUDA a copy stream, from the loader's pinned memory), so it runs while step k computes
// instead of in front of step k+1. Two slots alternate: the one the step computes on, and the one
// being filled. A slot's device tensors are refilled only after the ops that read them were
// issued (upload_async orders the copy after them), and its host batch goes back to the loader
// only once its upload is done (finish_uploads), because the loader's workers overwrite it.
//
// The CPU needs none of this (upload_async copies at once); the dense workload uses it for every
// backend that is not the CPU.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/data/pipeline/batch_loader.h"
#include "core/tensor/backend.h"

namespace tb::run {

class BatchUploader {
 public:
  // Fills the batch and returns true, or returns false at the end of the epoch.
  using Source = std::function<bool(data::LoadedBatch&)>;

  // sample_dims: one sample's shape; x is [N, sample_dims...] f32 and y [N] i32.
  BatchUploader(tensor::Backend& backend, std::vector<std::int64_t> sample_dims);
  // Waits for an upload in flight: its host memory is about to be freed.
  ~BatchUploader();
  BatchUploader(const BatchUploader&) = delete;
  BatchUploader& operator=(const BatchUploader&) = delete;

  // Makes the next batch current (its x and y on the device, complete) and starts uploading the
  // one after it. False when the source has no more.
  bool next(const Source& source);
  // Forgets the batch uploaded ahead (a new epoch, or batches skipped), after its upload is done.
  void reset();

  const tensor::Tensor& x() const { return current_.x; }  // [N, sample...] f32
  const tensor::Tensor& y() const { return current_.y; }  // [N] i32
  std::int64_t size() const { return current_.host.size; }
  // The loader's batch behind x and y (its index, positions); not the one uploaded ahead.
  const data::LoadedBatch& host() const { return current_.host; }
  // Uploads started so far (for tests: one per batch, none twice).
  std::int64_t uploads_started() const { return uploads_started_; }

 private:
  struct Slot {
    data::LoadedBatch host;  // the loader's batch, held until its upload is done
    tensor::Tensor x, y;
    bool staged = false;  // an upload into x, y was started and not yet taken
  };
  // Takes a batch from the source into `slot` and starts its upload; false at the end.
  bool stage(const Source& source, Slot& slot);

  tensor::Backend& backend_;
  std::vector<std::int64_t> dims_;  // [N, sample...]
  Slot current_, ahead_;
  std::int64_t uploads_started_ = 0;
};

}  // namespace tb::run
