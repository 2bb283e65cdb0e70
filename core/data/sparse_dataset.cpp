#include "core/data/sparse_dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <random>

#include "core/util/error.h"

namespace tb::data {

std::vector<std::int64_t> SparseDataset::field_widths() const {
  std::vector<std::int64_t> widths;
  for (const auto& field : fields) widths.push_back(field.cols());
  return widths;
}

void SparseDataset::compute_fingerprint() {
  uLong crc = crc32(0L, Z_NULL, 0);
  auto add = [&](const void* data, std::size_t bytes) {
    crc = crc32_z(crc, static_cast<const Bytef*>(data), bytes);
  };
  for (const auto& field : fields) {
    add(field.row_ptr().data(), field.row_ptr().size_bytes());
    add(field.col_idx().data(), field.col_idx().size_bytes());
    add(field.values().data(), field.values().size_bytes());
  }
  add(labels.data(), labels.size() * sizeof(std::int32_t));
  char text[24];
  std::snprintf(text, sizeof text, "crc32:%08lx", crc);
  fingerprint = text;
}

std::vector<std::int64_t> epoch_order(std::int64_t n, bool shuffle, std::uint64_t seed,
                                      std::int64_t epoch) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) {
    std::mt19937_64 rng(seed ^ (0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(epoch + 1)));
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  }
  return order;
}

SparseBatchIterator::SparseBatchIterator(const SparseDataset& dataset, std::int64_t batch_size,
                                         bool shuffle, std::uint64_t seed)
    : dataset_(dataset), batch_size_(batch_size), shuffle_(shuffle), seed_(seed) {
  if (batch_size <= 0) throw Error("batch size must be positive");
  start_epoch(0);
}

void SparseBatchIterator::start_epoch(std::int64_t epoch) {
  order_ = epoch_order(dataset_.size(), shuffle_, seed_, epoch);
  position_ = 0;
}

std::int64_t SparseBatchIterator::batches_per_epoch() const {
  return (dataset_.size() + batch_size_ - 1) / batch_size_;
}

void SparseBatchIterator::skip(std::int64_t batches) {
  position_ =
      std::min(dataset_.size(), position_ + std::max<std::int64_t>(0, batches) * batch_size_);
}

bool SparseBatchIterator::next(SparseBatch& batch) {
  const auto remaining = dataset_.size() - position_;
  if (remaining <= 0) return false;
  batch.size = std::min(batch_size_, remaining);
  batch.labels.resize(static_cast<std::size_t>(batch.size));
  batch.fields.resize(dataset_.fields.size());
  for (std::int64_t i = 0; i < batch.size; ++i) {
    const auto sample = static_cast<std::size_t>(order_[static_cast<std::size_t>(position_ + i)]);
    batch.labels[static_cast<std::size_t>(i)] = dataset_.labels[sample];
  }
  for (std::size_t f = 0; f < dataset_.fields.size(); ++f) {
    const auto& source = dataset_.fields[f];
    std::vector<std::int64_t> row_ptr{0};
    std::vector<std::int32_t> cols;
    std::vector<float> values;
    for (std::int64_t i = 0; i < batch.size; ++i) {
      const auto sample = order_[static_cast<std::size_t>(position_ + i)];
      const auto c = source.row_cols(sample);
      const auto v = source.row_values(sample);
      cols.insert(cols.end(), c.begin(), c.end());
      values.insert(values.end(), v.begin(), v.end());
      row_ptr.push_back(static_cast<std::int64_t>(cols.size()));
    }
    // Rows copied from a valid matrix stay valid.
    batch.fields[f] = ds::CsrMatrix::from_arrays_unchecked(
        batch.size, source.cols(), std::move(row_ptr), std::move(cols), std::move(values));
  }
  position_ += batch.size;
  return true;
}

}  // namespace tb::data
