// Backend::convert and Backend::round_to: the CPU backend's mixed-precision ops agree with the
// scalar conversions of half.h, in both directions and for both 16-bit types.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/tensor/backend.h"
#include "core/tensor/half.h"
#include "core/util/error.h"
#include "tests/core/tensor/test_util.h"

namespace tb::tensor {
namespace {

using test_util::from_vec;
using test_util::random_floats;
using test_util::to_vec;

TEST(Convert, NarrowWidenAndRoundAgreeWithHalfH) {
  auto backend = make_cpu_backend(1);
  std::mt19937_64 rng(1);
  auto values = random_floats(1000, rng, -70000.0f, 70000.0f);
  values.push_back(1e-9f);  // underflows fp16, not bf16
  values.push_back(std::numeric_limits<float>::infinity());
  const Tensor x = from_vec(*backend, {static_cast<std::int64_t>(values.size())}, values);
  for (DType storage : {DType::bf16, DType::f16}) {
    Tensor narrow = backend->empty(x.shape(), storage);  // [n] 16-bit
    backend->convert(x, narrow);
    Tensor wide = backend->empty(x.shape());  // [n] f32
    backend->convert(narrow, wide);
    Tensor rounded = backend->empty(x.shape());  // [n] f32
    backend->copy(x, rounded);
    backend->round_to(rounded, storage);
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::uint16_t bits =
          storage == DType::bf16 ? float_to_bf16(values[i]) : float_to_f16(values[i]);
      const float expected =
          storage == DType::bf16 ? round_to_bf16(values[i]) : round_to_f16(values[i]);
      ASSERT_EQ(narrow.data_u16()[i], bits) << dtype_name(storage) << " " << values[i];
      ASSERT_EQ(wide.data()[i], expected) << dtype_name(storage) << " " << values[i];
      ASSERT_EQ(rounded.data()[i], expected) << dtype_name(storage) << " " << values[i];
    }
  }
}

TEST(Convert, SameDtypeCopiesAndOthersAreRefused) {
  auto backend = make_cpu_backend(1);
  const Tensor x = from_vec(*backend, {3}, {1.0f, 2.0f, 3.0f});
  Tensor y = backend->empty({3});
  backend->convert(x, y);
  EXPECT_EQ(to_vec(y), to_vec(x));
  Tensor bf = backend->empty({3}, DType::bf16);
  Tensor f16 = backend->empty({3}, DType::f16);
  Tensor i32 = backend->empty({3}, DType::i32);
  EXPECT_THROW(backend->convert(bf, f16), Error);
  EXPECT_THROW(backend->convert(x, i32), Error);
  Tensor longer = backend->empty({4}, DType::bf16);
  EXPECT_THROW(backend->convert(x, longer), Error);
  Tensor z = backend->empty({3});
  backend->copy(x, z);
  backend->round_to(z, DType::f32);  // no-op
  EXPECT_EQ(to_vec(z), to_vec(x));
  EXPECT_THROW(backend->round_to(z, DType::i32), Error);
}

}  // namespace
}  // namespace tb::tensor
