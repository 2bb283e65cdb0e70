// Argument checks shared by the sparse kernels (sparse.cpp) and RowSparseGrad
// (row_sparse_grad.cpp): each throws tb::Error naming the operation, the operand and the shape it
// expected. Internal to core/ds.
#pragma once

#include <cstdint>
#include <string>

#include "core/ds/sparse.h"
#include "core/util/error.h"

namespace tb::ds::sparse_checks {

inline std::string shape_text(std::int64_t rows, std::int64_t cols) {
  // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string&&.
  std::string text = "[";
  text += std::to_string(rows);
  text += " x ";
  text += std::to_string(cols);
  text += "]";
  return text;
}

inline void check_threads(int threads, const char* op) {
  if (threads < 1) {
    throw Error(std::string(op) + ": threads = " + std::to_string(threads) + ", expected >= 1");
  }
}

inline void check_dims(std::int64_t rows, std::int64_t cols, const char* what) {
  if (rows < 0 || cols < 0) {
    throw Error(std::string(what) + ": negative size " + shape_text(rows, cols));
  }
}

inline void check_view(DenseView v, std::int64_t rows, std::int64_t cols, const char* op,
                       const char* name) {
  if (v.rows != rows || v.cols != cols) {
    throw Error(std::string(op) + ": " + name + " is " + shape_text(v.rows, v.cols) +
                ", expected " + shape_text(rows, cols));
  }
  if (v.data == nullptr && rows > 0 && cols > 0) {
    throw Error(std::string(op) + ": " + name + " " + shape_text(rows, cols) +
                " has a null data pointer");
  }
}

inline void check_no_overlap(MutableDenseView out, DenseView in, const char* op,
                             const char* out_name, const char* in_name) {
  const std::int64_t out_size = out.rows * out.cols;
  const std::int64_t in_size = in.rows * in.cols;
  if (out_size == 0 || in_size == 0) return;
  const std::less<const float*> before;
  const bool disjoint =
      !before(out.data, in.data + in_size) || !before(in.data, out.data + out_size);
  if (!disjoint) {
    throw Error(std::string(op) + ": output " + out_name + " overlaps input " + in_name);
  }
}

}  // namespace tb::ds::sparse_checks
