// Sparse labelled datasets (bag-of-words features, ids for Embedding tables) and their batches.
//
// A sample is one CSR row in each of the dataset's fields: a bag-of-words dataset has one field
// [samples x vocabulary] of word weights; a recommender dataset two one-hot fields, user
// [samples x users] and item [samples x items] (the id is the column, the value 1). Batches are
// built on the host (CPU only: the sparse products run through core/ds; a CUDA path is a later
// issue) in the same seeded order as BatchIterator's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ds/sparse.h"

namespace tb::data {

struct SparseDataset {
  std::string name;
  std::vector<std::string> field_names;  // "words"; "user", "item"
  std::vector<ds::CsrMatrix> fields;     // each [size() x width]
  std::int64_t classes = 0;
  std::vector<std::int32_t> labels;  // size(), each in [0, classes)
  // "crc32:xxxxxxxx" of every field's arrays and the labels, stored with each session.
  std::string fingerprint;

  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
  // Columns of each field: the vocabulary, the number of users or items.
  std::vector<std::int64_t> field_widths() const;
  // Sets fingerprint from the fields and labels.
  void compute_fingerprint();
};

struct SparseSplit {
  SparseDataset train;
  SparseDataset test;
};

struct SparseBatch {
  std::int64_t size = 0;
  std::vector<ds::CsrMatrix> fields;  // each [size x width]: the samples' rows in batch order
  std::vector<std::int32_t> labels;   // size
};

// The order of one epoch's samples: 0..n-1, Fisher-Yates shuffled by std::mt19937_64 from seed and
// epoch when shuffle is set. BatchIterator and SparseBatchIterator both use it.
std::vector<std::int64_t> epoch_order(std::int64_t n, bool shuffle, std::uint64_t seed,
                                      std::int64_t epoch);

// BatchIterator's interface over a SparseDataset.
class SparseBatchIterator {
 public:
  SparseBatchIterator(const SparseDataset& dataset, std::int64_t batch_size, bool shuffle,
                      std::uint64_t seed);
  void start_epoch(std::int64_t epoch);
  bool next(SparseBatch& batch);
  void skip(std::int64_t batches);
  std::int64_t batches_per_epoch() const;

 private:
  const SparseDataset& dataset_;
  std::int64_t batch_size_;
  bool shuffle_;
  std::uint64_t seed_;
  std::vector<std::int64_t> order_;
  std::int64_t position_ = 0;
};

}  // namespace tb::data
