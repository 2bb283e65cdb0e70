// The CUDA backend's memory ops against the CPU's, bit for bit: f32 to and from f16 and bf16
// (ties to even, subnormals, overflow to inf, inf, NaN with its sign and payload), rounding in
// place, fills of every dtype, copies; and the same errors for conversions neither supports.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tests/gpu/gpu_test_support.h"

namespace tb::gpu::testing {
namespace {

// Values where rounding to 16 bits is easy to get wrong, then random ones of every magnitude.
Tensor awkward_values() {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          1.0f,
                          -1.5f,
                          65504.0f,  // f16's largest
                          65520.0f,  // rounds to inf in f16
                          1e-8f,     // an f16 subnormal
                          5.96e-8f,  // f16's smallest subnormal, about
                          1e-40f,    // an f32 subnormal
                          3.4e38f,   // near f32's largest: rounds to bf16's inf
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::bit_cast<float>(0x7FC12345u),   // a quiet NaN with a payload
                          std::bit_cast<float>(0xFF800001u),   // a negative signalling NaN
                          std::bit_cast<float>(0x3F808000u),   // a bf16 tie: 1 + 2^-8
                          std::bit_cast<float>(0x3F818000u),   // a bf16 tie, odd kept part
                          std::bit_cast<float>(0x3F801000u)};  // an f16 tie: 1 + 2^-11
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> mantissa(-2.0f, 2.0f);
  std::uniform_int_distribution<int> exponent(-30, 30);
  while (v.size() < 5000) v.push_back(std::ldexp(mantissa(rng), exponent(rng)));
  Tensor t = cpu().empty({static_cast<std::int64_t>(v.size())});
  std::memcpy(t.data(), v.data(), v.size() * sizeof(float));
  return t;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.bytes() == b.bytes() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

TEST(CudaConvert, NarrowsAndWidensBitForBitLikeTheCpu) {
  TB_REQUIRE_GPU();
  const Tensor x = awkward_values();
  for (const DType dtype : {DType::f16, DType::bf16}) {
    SCOPED_TRACE(tensor::dtype_name(dtype));
    Tensor narrow = cpu().empty(x.shape(), dtype);
    cpu().convert(x, narrow);
    Tensor narrow_gpu = cuda()->empty(x.shape(), dtype);
    cuda()->convert(to_gpu(x), narrow_gpu);
    EXPECT_TRUE(same_bits(to_cpu(narrow_gpu), narrow));
    // And back to f32, from the same 16-bit values.
    Tensor wide = cpu().empty(x.shape());
    cpu().convert(narrow, wide);
    Tensor wide_gpu = cuda()->empty(x.shape());
    cuda()->convert(to_gpu(narrow), wide_gpu);
    EXPECT_TRUE(same_bits(to_cpu(wide_gpu), wide));
  }
}

TEST(CudaConvert, RoundsInPlaceLikeTheCpu) {
  TB_REQUIRE_GPU();
  for (const DType dtype : {DType::f16, DType::bf16, DType::f32}) {
    SCOPED_TRACE(tensor::dtype_name(dtype));
    Tensor x = awkward_values();
    Tensor x_gpu = to_gpu(x);
    cpu().round_to(x, dtype);
    cuda()->round_to(x_gpu, dtype);
    const Tensor back = to_cpu(x_gpu);
    // NaNs stay NaN (their payload may differ: rounding in place keeps f32's bits on the CPU).
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const float a = back.data()[i], b = x.data()[i];
      if (std::isnan(b)) {
        EXPECT_TRUE(std::isnan(a)) << i;
      } else {
        EXPECT_EQ(std::bit_cast<std::uint32_t>(a), std::bit_cast<std::uint32_t>(b))
            << i << ": " << b;
      }
    }
  }
  Tensor t = cuda()->empty({4});
  EXPECT_EQ(error_of([&] { cuda()->round_to(t, DType::i32); }), error_of([&] {
              Tensor c = cpu().empty({4});
              cpu().round_to(c, DType::i32);
            }));
}

TEST(CudaConvert, FillsEveryDtypeAndCopiesLikeTheCpu) {
  TB_REQUIRE_GPU();
  for (const DType dtype : {DType::f32, DType::i32, DType::f16, DType::bf16}) {
    SCOPED_TRACE(tensor::dtype_name(dtype));
    Tensor c = cpu().empty({1000, 3}, dtype);
    cpu().fill(c, 7.3f);
    Tensor g = cuda()->empty({1000, 3}, dtype);
    cuda()->fill(g, 7.3f);
    EXPECT_TRUE(same_bits(to_cpu(g), c));
    Tensor copy = cuda()->empty({3000}, dtype);
    cuda()->copy(g, copy);
    EXPECT_TRUE(same_bits(to_cpu(copy), c));
  }
}

TEST(CudaConvert, RefusesWhatTheCpuRefuses) {
  TB_REQUIRE_GPU();
  for (const auto& [from, to] :
       {std::pair{DType::f16, DType::bf16}, std::pair{DType::i32, DType::f32},
        std::pair{DType::f32, DType::i32}}) {
    Tensor a = cpu().empty({8}, from), b = cpu().empty({8}, to);
    Tensor ga = cuda()->empty({8}, from), gb = cuda()->empty({8}, to);
    const std::string expected = error_of([&] { cpu().convert(a, b); });
    EXPECT_NE(expected, "(no tb::Error thrown)");
    EXPECT_EQ(error_of([&] { cuda()->convert(ga, gb); }), expected);
  }
  Tensor a = cuda()->empty({8}), b = cuda()->empty({9}, DType::f16);
  EXPECT_NE(error_of([&] { cuda()->convert(a, b); }).find("element counts differ"),
            std::string::npos);
}

}  // namespace
}  // namespace tb::gpu::testing
