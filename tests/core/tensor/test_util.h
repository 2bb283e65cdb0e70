// Helpers shared by the tensor, nn and optim tests: host <-> tensor copies, seeded random data and
// closeness checks that name the worst element, so a failure says where and by how much.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/tensor/backend.h"

namespace tb::test_util {

using tensor::Backend;
using tensor::DType;
using tensor::Shape;
using tensor::Tensor;

// Uniform floats in [lo, hi); every test seeds its own generator so a failure reproduces.
inline std::vector<float> random_floats(std::size_t n, std::mt19937_64& rng, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Floats whose magnitude is at least `gap`: keeps ReLU inputs away from the kink at 0.
inline std::vector<float> random_away_from_zero(std::size_t n, std::mt19937_64& rng,
                                                float gap = 0.1f) {
  auto v = random_floats(n, rng, gap, 1.0f);
  std::bernoulli_distribution sign(0.5);
  for (auto& x : v) x = sign(rng) ? x : -x;
  return v;
}

inline std::vector<std::int32_t> random_labels(std::size_t n, std::int32_t classes,
                                               std::mt19937_64& rng) {
  std::uniform_int_distribution<std::int32_t> dist(0, classes - 1);
  std::vector<std::int32_t> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline Tensor from_vec(Backend& backend, const Shape& shape, const std::vector<float>& v) {
  Tensor t = backend.empty(shape);
  EXPECT_EQ(static_cast<std::int64_t>(v.size()), t.numel())
      << "test data does not fit " << shape.str();
  backend.upload(t, v.data(), v.size() * sizeof(float));
  return t;
}

inline Tensor labels_tensor(Backend& backend, const std::vector<std::int32_t>& v) {
  Tensor t = backend.empty({static_cast<std::int64_t>(v.size())}, DType::i32);
  backend.upload(t, v.data(), v.size() * sizeof(std::int32_t));
  return t;
}

inline std::vector<float> to_vec(const Tensor& t) {
  const float* p = t.data();
  return std::vector<float>(p, p + t.numel());
}

inline std::vector<std::int32_t> to_vec_i32(const Tensor& t) {
  const std::int32_t* p = t.data_i32();
  return std::vector<std::int32_t>(p, p + t.numel());
}

// Elementwise |got - want| <= atol + rtol * |want|; reports the worst element and how many fail.
template <class Got, class Want>
::testing::AssertionResult all_close(const Got& got, const Want& want, double rtol, double atol) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: got " << got.size() << ", want " << want.size();
  }
  std::size_t failures = 0, worst = 0;
  double worst_excess = -1.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]);
    const double w = static_cast<double>(want[i]);
    const double allowed = atol + rtol * std::abs(w);
    const double diff = std::abs(g - w);
    // NaN never passes: !(diff <= allowed).
    if (!(diff <= allowed)) {
      ++failures;
      const double excess = std::isnan(diff) ? 1e300 : diff - allowed;
      if (excess > worst_excess) {
        worst_excess = excess;
        worst = i;
      }
    }
  }
  if (failures == 0) return ::testing::AssertionSuccess();
  std::ostringstream out;
  out.precision(9);
  out << failures << " of " << got.size() << " elements differ; worst at [" << worst << "]: got "
      << static_cast<double>(got[worst]) << ", want " << static_cast<double>(want[worst])
      << " (rtol " << rtol << ", atol " << atol << ")";
  return ::testing::AssertionFailure() << out.str();
}

// Bitwise equality of two float vectors (same op, different thread counts must agree exactly).
inline ::testing::AssertionResult bitwise_equal(const std::vector<float>& a,
                                                const std::vector<float>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      return ::testing::AssertionFailure()
             << "element " << i << " differs: " << a[i] << " vs " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// The gradient-check metric: max|a - b| / max(floor, max|a| + max|b|). Scale-free for large
// gradients, and the floor keeps an all-but-zero gradient from turning rounding noise into a
// failure.
template <class A, class B>
double max_rel_error(const A& a, const B& b, double floor = 1e-3) {
  double diff = 0.0, max_a = 0.0, max_b = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    max_a = std::max(max_a, std::abs(static_cast<double>(a[i])));
    max_b = std::max(max_b, std::abs(static_cast<double>(b[i])));
  }
  return diff / std::max(floor, max_a + max_b);
}

}  // namespace tb::test_util
