// BatchIterator: an epoch over an in-memory dataset in batches, shuffled by a seeded permutation.
//
// The same seed and epoch give the same order on every machine: the permutation is a
// Fisher-Yates shuffle driven by std::mt19937_64, whose output the C++ standard fixes.
#pragma once

#include <cstdint>
#include <vector>

#include "core/data/dataset.h"

namespace tb::data {

struct Batch {
  std::int64_t size = 0;
  std::vector<float> features;       // size * sample numel
  std::vector<std::int32_t> labels;  // size
};

class BatchIterator {
 public:
  BatchIterator(const InMemoryDataset& dataset, std::int64_t batch_size, bool shuffle,
                std::uint64_t seed, bool drop_last = false);

  // Restarts at the beginning of `epoch` (0-based), with that epoch's order.
  void start_epoch(std::int64_t epoch);
  // Fills the next batch; false at the end of the epoch.
  bool next(Batch& batch);
  // Passes over the next `batches` batches without reading them (resuming inside an epoch).
  void skip(std::int64_t batches);
  std::int64_t batches_per_epoch() const;
  const std::vector<std::int64_t>& order() const { return order_; }

 private:
  const InMemoryDataset& dataset_;
  std::int64_t batch_size_;
  bool shuffle_;
  std::uint64_t seed_;
  bool drop_last_;
  std::vector<std::int64_t> order_;
  std::int64_t position_ = 0;
};

}  // namespace tb::data
