#include "core/run/batch_uploader.h"

#include <utility>

namespace tb::run {

BatchUploader::BatchUploader(tensor::Backend& backend, std::vector<std::int64_t> sample_dims)
    : backend_(backend) {
  dims_.push_back(0);
  dims_.insert(dims_.end(), sample_dims.begin(), sample_dims.end());
}

BatchUploader::~BatchUploader() {
  try {
    backend_.finish_uploads();
  } catch (...) {
    // A device error has been or will be reported by the op that met it; a destructor cannot.
  }
}

bool BatchUploader::stage(const Source& source, Slot& slot) {
  // slot.host's earlier upload is done (finish_uploads ran since it was staged), so the loader
  // may take its memory back to refill.
  if (!source(slot.host)) return false;
  dims_[0] = slot.host.size;
  backend_.ensure(slot.x, tensor::Shape(dims_));
  backend_.ensure(slot.y, {slot.host.size}, tensor::DType::i32);
  backend_.upload_async(slot.x, slot.host.features.data(),
                        slot.host.features.size() * sizeof(float));
  backend_.upload_async(slot.y, slot.host.labels.data(),
                        slot.host.labels.size() * sizeof(std::int32_t));
  slot.staged = true;
  ++uploads_started_;
  return true;
}

bool BatchUploader::next(const Source& source) {
  // The first batch of an epoch has nobody ahead of it: it is uploaded now.
  if (!ahead_.staged && !stage(source, ahead_)) return false;
  // Usually long done: it was started a whole step ago.
  backend_.finish_uploads();
  std::swap(current_, ahead_);
  current_.staged = false;
  // ahead_ now holds the previous step's batch: its upload is done and the ops reading its
  // device tensors were issued, which upload_async orders the new copy after.
  stage(source, ahead_);
  return true;
}

void BatchUploader::reset() {
  backend_.finish_uploads();
  ahead_.staged = false;
}

}  // namespace tb::run
