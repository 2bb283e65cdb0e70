// RowSparseGrad (declared in sparse.h): row-sparse gradients of embedding tables.
#include "core/ds/sparse.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>

#include "core/ds/sparse_checks.h"
#include "core/util/error.h"

namespace tb::ds {

using namespace sparse_checks;

RowSparseGrad::RowSparseGrad(std::int64_t num_rows, std::int64_t dim)
    : num_rows_(num_rows), dim_(dim) {
  check_dims(num_rows, dim, "RowSparseGrad");
}

RowSparseGrad RowSparseGrad::from_rows(std::int64_t num_rows, std::int64_t dim,
                                       std::vector<std::int64_t> row_ids,
                                       std::vector<float> values) {
  RowSparseGrad g(num_rows, dim);
  for (std::size_t k = 0; k < row_ids.size(); ++k) {
    if (row_ids[k] < 0 || row_ids[k] >= num_rows) {
      throw Error("RowSparseGrad::from_rows: row_ids[" + std::to_string(k) + "] = " +
                  std::to_string(row_ids[k]) + " is outside [0, " + std::to_string(num_rows) + ")");
    }
    if (k > 0 && row_ids[k] <= row_ids[k - 1]) {
      throw Error("RowSparseGrad::from_rows: row_ids[" + std::to_string(k) +
                  "] = " + std::to_string(row_ids[k]) + " is not greater than row_ids[" +
                  std::to_string(k - 1) + "] (ids must be unique and ascending)");
    }
  }
  if (values.size() != row_ids.size() * static_cast<std::size_t>(dim)) {
    throw Error("RowSparseGrad::from_rows: values has " + std::to_string(values.size()) +
                " floats, expected " + std::to_string(row_ids.size()) + " rows x " +
                std::to_string(dim));
  }
  g.row_ids_ = std::move(row_ids);
  g.values_ = std::move(values);
  return g;
}

void RowSparseGrad::accumulate(std::span<const std::int64_t> ids, DenseView grads, int threads) {
  const char* op = "RowSparseGrad::accumulate";
  check_threads(threads, op);
  check_view(grads, static_cast<std::int64_t>(ids.size()), dim_, op, "grads");
  for (std::size_t k = 0; k < ids.size(); ++k) {
    if (ids[k] < 0 || ids[k] >= num_rows_) {
      throw Error(std::string(op) + ": ids[" + std::to_string(k) + "] = " + std::to_string(ids[k]) +
                  " is outside [0, " + std::to_string(num_rows_) + ")");
    }
  }
  if (ids.empty()) return;
  // Positions of ids grouped by id, in call order within a group.
  std::vector<std::int64_t> order(ids.size());
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t x, std::int64_t y) { return ids[x] < ids[y]; });
  // Merge the stored rows with the new ids: each merged row records its old row (or -1) and its
  // group [begin, end) in order.
  struct Merged {
    std::int64_t id;
    std::int64_t old_row;
    std::int64_t begin;
    std::int64_t end;
  };
  std::vector<Merged> merged;
  merged.reserve(row_ids_.size() + ids.size());
  std::size_t old_k = 0;
  std::size_t pos = 0;
  while (old_k < row_ids_.size() || pos < order.size()) {
    const std::int64_t next_new =
        pos < order.size() ? ids[order[pos]] : std::numeric_limits<std::int64_t>::max();
    const std::int64_t next_old =
        old_k < row_ids_.size() ? row_ids_[old_k] : std::numeric_limits<std::int64_t>::max();
    const std::int64_t id = std::min(next_new, next_old);
    Merged m{id, -1, static_cast<std::int64_t>(pos), static_cast<std::int64_t>(pos)};
    if (next_old == id) m.old_row = static_cast<std::int64_t>(old_k++);
    while (pos < order.size() && ids[order[pos]] == id) ++pos;
    m.end = static_cast<std::int64_t>(pos);
    merged.push_back(m);
  }
  const std::int64_t count = static_cast<std::int64_t>(merged.size());
  std::vector<float> values(static_cast<std::size_t>(count * dim_));
  const std::int64_t dim = dim_;
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
  for (std::int64_t k = 0; k < count; ++k) {
    float* dst = values.data() + k * dim;
    const Merged& m = merged[k];
    if (m.old_row >= 0) {
      std::copy_n(values_.data() + m.old_row * dim, dim, dst);
    } else {
      std::fill_n(dst, dim, 0.0f);
    }
    for (std::int64_t q = m.begin; q < m.end; ++q) {
      const float* src = grads.data + order[q] * dim;
      for (std::int64_t t = 0; t < dim; ++t) dst[t] += src[t];
    }
  }
  std::vector<std::int64_t> new_ids(merged.size());
  for (std::size_t k = 0; k < merged.size(); ++k) new_ids[k] = merged[k].id;
  row_ids_ = std::move(new_ids);
  values_ = std::move(values);
}

void RowSparseGrad::add_to(MutableDenseView table, float alpha) const {
  check_view(table, num_rows_, dim_, "RowSparseGrad::add_to", "table");
  for (std::size_t k = 0; k < row_ids_.size(); ++k) {
    float* dst = table.data + row_ids_[k] * dim_;
    const float* src = values_.data() + static_cast<std::int64_t>(k) * dim_;
    for (std::int64_t t = 0; t < dim_; ++t) dst[t] += alpha * src[t];
  }
}

DenseMatrix RowSparseGrad::to_dense() const {
  DenseMatrix d(num_rows_, dim_);
  for (std::size_t k = 0; k < row_ids_.size(); ++k) {
    std::copy_n(values_.data() + static_cast<std::int64_t>(k) * dim_, dim_,
                d.data() + row_ids_[k] * dim_);
  }
  return d;
}

void RowSparseGrad::clear() {
  row_ids_.clear();
  values_.clear();
}

std::size_t RowSparseGrad::bytes() const {
  return row_ids_.size() * sizeof(std::int64_t) + values_.size() * sizeof(float);
}

std::size_t RowSparseGrad::dense_bytes() const {
  return static_cast<std::size_t>(num_rows_ * dim_) * sizeof(float);
}

}  // namespace tb::ds
