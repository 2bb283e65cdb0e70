#include "core/data/batch_iterator.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

#include "core/data/sparse_dataset.h"
#include "core/util/error.h"

namespace tb::data {

BatchIterator::BatchIterator(const InMemoryDataset& dataset, std::int64_t batch_size, bool shuffle,
                             std::uint64_t seed, bool drop_last)
    : dataset_(dataset),
      batch_size_(batch_size),
      shuffle_(shuffle),
      seed_(seed),
      drop_last_(drop_last) {
  if (batch_size <= 0) throw Error("batch size must be positive");
  start_epoch(0);
}

void BatchIterator::start_epoch(std::int64_t epoch) {
  order_ = epoch_order(dataset_.size(), shuffle_, seed_, epoch);
  position_ = 0;
}

std::int64_t BatchIterator::batches_per_epoch() const {
  const auto n = dataset_.size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

void BatchIterator::skip(std::int64_t batches) {
  position_ =
      std::min(dataset_.size(), position_ + std::max<std::int64_t>(0, batches) * batch_size_);
}

bool BatchIterator::next(Batch& batch) {
  const auto remaining = dataset_.size() - position_;
  if (remaining <= 0 || (drop_last_ && remaining < batch_size_)) return false;
  batch.size = std::min(batch_size_, remaining);
  const auto numel = dataset_.sample_numel();
  batch.features.resize(static_cast<std::size_t>(batch.size * numel));
  batch.labels.resize(static_cast<std::size_t>(batch.size));
  for (std::int64_t i = 0; i < batch.size; ++i) {
    const auto sample = order_[static_cast<std::size_t>(position_ + i)];
    std::memcpy(&batch.features[static_cast<std::size_t>(i * numel)],
                &dataset_.features[static_cast<std::size_t>(sample * numel)],
                static_cast<std::size_t>(numel) * sizeof(float));
    batch.labels[static_cast<std::size_t>(i)] = dataset_.labels[static_cast<std::size_t>(sample)];
  }
  position_ += batch.size;
  return true;
}

}  // namespace tb::data
