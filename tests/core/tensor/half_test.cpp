// f16 / bf16 conversions against a reference that shares no code with them: the 16-bit values are
// decoded with ldexp, and float -> 16-bit rounding is a search over the sorted list of every
// finite value, compared with the exact midpoint (in double), ties to the even bit pattern.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor/backend.h"
#include "core/tensor/half.h"
#include "core/util/error.h"

namespace tb::tensor {
namespace {

// One 16-bit format described by its field widths, so f16 and bf16 share the reference.
struct Format {
  const char* name;
  int mantissa_bits;  // 10 | 7
  int bias;           // 15 | 127
  std::uint16_t (*encode)(float);
  float (*decode)(std::uint16_t);
  void (*encode_bulk)(const float*, std::uint16_t*, std::size_t);
  void (*decode_bulk)(const std::uint16_t*, float*, std::size_t);
  float (*round)(float);
  void (*round_bulk)(std::span<float>);

  std::uint16_t inf_bits() const {
    return static_cast<std::uint16_t>(0x7FFF >> mantissa_bits << mantissa_bits);
  }
  std::uint16_t quiet_bit() const { return static_cast<std::uint16_t>(1u << (mantissa_bits - 1)); }
  bool is_nan(std::uint16_t h) const { return (h & 0x7FFF) > inf_bits(); }
  // The value of a non-NaN pattern, from the definition: (-1)^s * 2^(e-bias) * 1.m, or
  // 2^(1-bias) * 0.m when e == 0. Exact in double for both formats.
  double value(std::uint16_t h) const {
    const int exponent = (h & 0x7FFF) >> mantissa_bits;
    const int mantissa = h & ((1 << mantissa_bits) - 1);
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    if ((h & 0x7FFF) == inf_bits()) return sign * std::numeric_limits<double>::infinity();
    if (exponent == 0) return sign * std::ldexp(mantissa, 1 - bias - mantissa_bits);
    return sign * std::ldexp((1 << mantissa_bits) + mantissa, exponent - bias - mantissa_bits);
  }
};

float scalar_f16_round(float v) {
  return round_to_f16(v);
}
float scalar_bf16_round(float v) {
  return round_to_bf16(v);
}
void bulk_f16_round(std::span<float> v) {
  round_to_f16(v);
}
void bulk_bf16_round(std::span<float> v) {
  round_to_bf16(v);
}

const Format kF16{"f16",         10,           15,           float_to_f16,
                  f16_to_float,  float_to_f16, f16_to_float, scalar_f16_round,
                  bulk_f16_round};
const Format kBf16{"bf16",
                   7,
                   127,
                   float_to_bf16,
                   bf16_to_float,
                   float_to_bf16,
                   bf16_to_float,
                   scalar_bf16_round,
                   bulk_bf16_round};

std::uint32_t bits(float f) {
  return std::bit_cast<std::uint32_t>(f);
}
float from_bits(std::uint32_t b) {
  return std::bit_cast<float>(b);
}

// Nearest-value search: every finite non-negative pattern 0 .. inf_bits()-1 in order (their
// values increase with the pattern), plus where the next value would be (2^16 for f16, 2^128 for
// bf16) standing for infinity: a float at or past the midpoint to it overflows.
class Reference {
 public:
  explicit Reference(const Format& format) : format_(format) {
    for (std::uint16_t h = 0; h < format.inf_bits(); ++h) values_.push_back(format.value(h));
    const double last = values_.back();
    const double step = last - values_[values_.size() - 2];
    values_.push_back(last + step);  // bits inf_bits()
  }

  std::uint16_t encode(float f) const {
    const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    if (std::isnan(f)) return static_cast<std::uint16_t>(sign | format_.inf_bits() | 1);  // a NaN
    const double x = std::fabs(static_cast<double>(f));
    if (x >= values_.back()) return static_cast<std::uint16_t>(sign | format_.inf_bits());
    const auto above = std::upper_bound(values_.begin(), values_.end(), x);
    const auto lo = static_cast<std::uint16_t>(above - values_.begin() - 1);
    if (values_[lo] == x) return static_cast<std::uint16_t>(sign | lo);
    const std::uint16_t hi = lo + 1;
    const double mid = (values_[lo] + values_[hi]) / 2;  // exact: 1 bit more than the format
    std::uint16_t pick = x < mid ? lo : x > mid ? hi : (lo % 2 == 0 ? lo : hi);
    return static_cast<std::uint16_t>(sign | pick);
  }

  // Midpoints between consecutive non-negative finite values, and the one to "infinity"; all are
  // floats exactly (the formats have at most 11 significant bits, float 24).
  std::vector<float> midpoints() const {
    std::vector<float> out;
    for (std::size_t i = 0; i + 1 < values_.size(); ++i) {
      const double mid = (values_[i] + values_[i + 1]) / 2;
      EXPECT_EQ(static_cast<double>(static_cast<float>(mid)), mid) << format_.name;
      out.push_back(static_cast<float>(mid));
    }
    return out;
  }

 private:
  const Format& format_;
  std::vector<double> values_;
};

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

// Float inputs that exercise every rounding case: the midpoints (ties) and their neighbours one
// float ulp away on each side, every representable value, boundaries, and random floats spread
// over all exponents and over the format's range.
std::vector<float> rounding_inputs(const Format& format, const Reference& reference) {
  std::vector<float> in;
  for (float m : reference.midpoints()) {
    for (float v : {m, std::nextafter(m, 0.0f), std::nextafter(m, INFINITY)}) {
      in.push_back(v);
      in.push_back(-v);
    }
  }
  for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
    if (!format.is_nan(static_cast<std::uint16_t>(h)))
      in.push_back(static_cast<float>(format.value(static_cast<std::uint16_t>(h))));
  }
  for (float v : {0.0f, -0.0f, INFINITY, -INFINITY, std::numeric_limits<float>::max(),
                  std::numeric_limits<float>::min(), std::numeric_limits<float>::denorm_min(),
                  from_bits(0x007FFFFF), 1.0f, -1.0f, 65504.0f, 65520.0f, 65536.0f}) {
    in.push_back(v);
    in.push_back(-v);
  }
  std::mt19937_64 rng(20240611);
  std::uniform_int_distribution<std::uint32_t> any_bits;
  for (int i = 0; i < 1'000'000; ++i) in.push_back(from_bits(any_bits(rng)));
  std::uniform_real_distribution<float> in_range(-70000.0f, 70000.0f);
  for (int i = 0; i < 300'000; ++i) in.push_back(in_range(rng));
  std::uniform_real_distribution<float> log_magnitude(-30.0f, 17.0f);  // f16's subnormals too
  for (int i = 0; i < 300'000; ++i) in.push_back(std::exp2(log_magnitude(rng)));
  return in;
}

// ---- every 16-bit pattern: decode exactly, and encode(decode(h)) == h ----

void check_all_patterns(const Format& format) {
  std::vector<std::uint16_t> all(65536);
  for (std::uint32_t h = 0; h <= 0xFFFF; ++h) all[h] = static_cast<std::uint16_t>(h);
  std::vector<float> decoded(all.size());
  format.decode_bulk(all.data(), decoded.data(), all.size());
  std::vector<std::uint16_t> encoded(all.size());
  format.encode_bulk(decoded.data(), encoded.data(), decoded.size());

  int failures = 0;
  for (std::uint32_t i = 0; i <= 0xFFFF && failures < 10; ++i) {
    const auto h = static_cast<std::uint16_t>(i);
    const float f = format.decode(h);
    const std::uint16_t back = format.encode(f);
    // The bulk path agrees bit for bit with the scalar one, NaN payloads included.
    EXPECT_EQ(bits(decoded[i]), bits(f)) << format.name << " bulk decode of " << hex(h);
    EXPECT_EQ(encoded[i], back) << format.name << " bulk encode of " << hex(h);
    if (format.is_nan(h)) {
      // NaN stays NaN with its sign; the payload survives and the result is quiet.
      EXPECT_TRUE(std::isnan(f)) << format.name << " " << hex(h);
      EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << format.name << " " << hex(h);
      // As a float: quiet (the top mantissa bit), payload in the top mantissa bits.
      const std::uint32_t payload = (h & ((1u << format.mantissa_bits) - 1))
                                    << (23 - format.mantissa_bits);
      EXPECT_EQ(bits(f), ((h & 0x8000u) << 16) | 0x7F800000u | 0x00400000u | payload)
          << format.name << " " << hex(h);
      EXPECT_EQ(back, h | format.quiet_bit()) << format.name << " " << hex(h);
      failures += back != (h | format.quiet_bit());
      continue;
    }
    const double expected = format.value(h);
    EXPECT_EQ(static_cast<double>(f), expected) << format.name << " decode of " << hex(h);
    EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << format.name << " sign of " << hex(h);
    EXPECT_EQ(back, h) << format.name << " round trip of " << hex(h) << " via " << f;
    failures += back != h || static_cast<double>(f) != expected;
  }
  EXPECT_EQ(failures, 0);
}

TEST(Half, F16EveryPatternRoundTrips) {
  check_all_patterns(kF16);
}
TEST(Half, Bf16EveryPatternRoundTrips) {
  check_all_patterns(kBf16);
}

// ---- float -> 16-bit: correctly rounded, scalar and bulk, against the reference ----

void check_rounding(const Format& format) {
  const Reference reference(format);
  std::vector<float> in = rounding_inputs(format, reference);
  in.push_back(std::numeric_limits<float>::quiet_NaN());
  in.push_back(-std::numeric_limits<float>::quiet_NaN());
  in.push_back(std::numeric_limits<float>::signaling_NaN());

  std::vector<std::uint16_t> bulk(in.size());
  format.encode_bulk(in.data(), bulk.data(), in.size());
  std::vector<float> rounded = in;
  format.round_bulk(rounded);

  int failures = 0;
  for (std::size_t i = 0; i < in.size() && failures < 10; ++i) {
    const float f = in[i];
    const std::uint16_t got = format.encode(f);
    EXPECT_EQ(bulk[i], got) << format.name << " bulk vs scalar at " << hex(bits(f));
    if (std::isnan(f)) {
      EXPECT_TRUE(format.is_nan(got)) << format.name << " " << hex(bits(f));
      EXPECT_TRUE(got & format.quiet_bit()) << format.name << " NaN is quiet";
      EXPECT_EQ((got & 0x8000) != 0, std::signbit(f)) << format.name << " NaN sign";
      EXPECT_TRUE(std::isnan(format.round(f)));
      EXPECT_TRUE(std::isnan(rounded[i]));
      continue;
    }
    const std::uint16_t want = reference.encode(f);
    EXPECT_EQ(got, want) << format.name << " of " << f << " (" << hex(bits(f)) << ")";
    // round_to_*: the nearest representable value as a float, sign of zero kept.
    const float value = format.decode(want);
    EXPECT_EQ(bits(format.round(f)), bits(value)) << format.name << " round of " << f;
    EXPECT_EQ(bits(rounded[i]), bits(value)) << format.name << " bulk round of " << f;
    failures += got != want || bulk[i] != want || bits(rounded[i]) != bits(value);
  }
  EXPECT_EQ(failures, 0);
}

TEST(Half, F16RoundsToNearestEvenLikeTheReference) {
  check_rounding(kF16);
}
TEST(Half, Bf16RoundsToNearestEvenLikeTheReference) {
  check_rounding(kBf16);
}

// Exactly halfway between two values, the result is the one of the two with the even bit pattern
// (even mantissa): asserted directly, not only through the reference.
void check_ties(const Format& format) {
  const Reference reference(format);
  const std::vector<float> mids = reference.midpoints();
  int checked = 0;
  for (std::size_t lo = 0; lo < mids.size(); ++lo) {
    const auto even = static_cast<std::uint16_t>(lo % 2 == 0 ? lo : lo + 1);
    for (std::uint16_t sign : {0x0000, 0x8000}) {
      const float v = sign ? -mids[lo] : mids[lo];
      const std::uint16_t h = format.encode(v);
      ASSERT_EQ(h, sign | even) << format.name << " tie " << v << " between " << hex(lo) << " and "
                                << hex(lo + 1);
      ++checked;
    }
  }
  EXPECT_GT(checked, 63000);  // both signs of every gap: 2 x 31744 (f16), 2 x 32640 (bf16)
}

TEST(Half, F16TiesGoToEven) {
  check_ties(kF16);
}
TEST(Half, Bf16TiesGoToEven) {
  check_ties(kBf16);
}

TEST(Half, F16Boundaries) {
  EXPECT_EQ(float_to_f16(0.0f), 0x0000);
  EXPECT_EQ(float_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(float_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(float_to_f16(INFINITY), 0x7C00);
  EXPECT_EQ(float_to_f16(-INFINITY), 0xFC00);
  // Largest finite 65504; from the midpoint 65520 on, infinity.
  EXPECT_EQ(float_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_f16(std::nextafter(65520.0f, 0.0f)), 0x7BFF);
  EXPECT_EQ(float_to_f16(65520.0f), 0x7C00);
  EXPECT_EQ(float_to_f16(-65520.0f), 0xFC00);
  EXPECT_EQ(float_to_f16(std::numeric_limits<float>::max()), 0x7C00);
  // Subnormals: 2^-24 is the smallest; 2^-25 is a tie between 0 and it and goes to 0 (even);
  // anything above 2^-25 rounds up to it; 3 * 2^-25 ties between 1 and 2 units and goes to 2.
  EXPECT_EQ(float_to_f16(0x1.0p-24f), 0x0001);
  EXPECT_EQ(float_to_f16(0x1.0p-25f), 0x0000);
  EXPECT_EQ(float_to_f16(-0x1.0p-25f), 0x8000);
  EXPECT_EQ(float_to_f16(std::nextafter(0x1.0p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(float_to_f16(0x3.0p-25f), 0x0002);
  EXPECT_EQ(float_to_f16(0x5.0p-25f), 0x0002);
  EXPECT_EQ(float_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
  // The largest subnormal 1023 * 2^-24 and the smallest normal 2^-14; their midpoint goes to the
  // even one, which is the normal.
  EXPECT_EQ(float_to_f16(1023 * 0x1.0p-24f), 0x03FF);
  EXPECT_EQ(float_to_f16(0x1.0p-14f), 0x0400);
  EXPECT_EQ(float_to_f16(2047 * 0x1.0p-25f), 0x0400);
  EXPECT_EQ(float_to_f16(std::nextafter(2047 * 0x1.0p-25f, 0.0f)), 0x03FF);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: even is 1. 1 + 3 * 2^-11: even is 1 + 2^-9.
  EXPECT_EQ(float_to_f16(1.0f + 0x1.0p-11f), 0x3C00);
  EXPECT_EQ(float_to_f16(1.0f + 0x3.0p-11f), 0x3C02);
  EXPECT_EQ(f16_to_float(0x0001), 0x1.0p-24f);
  EXPECT_EQ(f16_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(f16_to_float(0xFC00), -INFINITY);
  EXPECT_TRUE(std::signbit(f16_to_float(0x8000)));
  EXPECT_EQ(round_to_f16(0.1f), 0.0999755859375f);
}

TEST(Half, Bf16Boundaries) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_bf16(1.0f + 0x1.0p-8f), 0x3F80);  // tie, even
  EXPECT_EQ(float_to_bf16(1.0f + 0x3.0p-8f), 0x3F82);  // tie, even
  EXPECT_EQ(float_to_bf16(std::nextafter(1.0f + 0x1.0p-8f, 2.0f)), 0x3F81);
  EXPECT_EQ(float_to_bf16(from_bits(0x7F7F7FFF)), 0x7F7F);  // below the midpoint to 2^128
  EXPECT_EQ(float_to_bf16(from_bits(0x7F7F8000)), 0x7F80);  // the midpoint: inf (even)
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(float_to_bf16(-INFINITY), 0xFF80);
  EXPECT_EQ(float_to_bf16(from_bits(0x00008000)), 0x0000);  // subnormal tie: even
  EXPECT_EQ(float_to_bf16(from_bits(0x00018000)), 0x0002);
  EXPECT_EQ(float_to_bf16(from_bits(0x007FFFFF)), 0x0080);  // largest float subnormal: 2^-126
  EXPECT_EQ(bf16_to_float(0x0001), 0x1.0p-133f);
  EXPECT_EQ(round_to_bf16(3.14159265f), 3.140625f);
  EXPECT_EQ(float_to_bf16(from_bits(0xFF800001)), 0xFFC0);  // signalling NaN comes out quiet
}

TEST(Half, BulkHandlesEveryLengthAndTail) {
  // The vector path works in blocks; each length up to a few blocks must match the scalar code.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  for (std::size_t n = 0; n <= 40; ++n) {
    std::vector<float> in(n);
    for (auto& v : in) v = dist(rng);
    std::vector<std::uint16_t> h(n + 1, 0xABCD), b(n + 1, 0xABCD);
    float_to_f16(in.data(), h.data(), n);
    float_to_bf16(in.data(), b.data(), n);
    EXPECT_EQ(h[n], 0xABCD) << "f16 wrote past " << n;
    EXPECT_EQ(b[n], 0xABCD) << "bf16 wrote past " << n;
    std::vector<float> back(n + 1, 42.0f);
    f16_to_float(h.data(), back.data(), n);
    EXPECT_EQ(back[n], 42.0f);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(h[i], float_to_f16(in[i]));
      EXPECT_EQ(b[i], float_to_bf16(in[i]));
      EXPECT_EQ(back[i], f16_to_float(h[i]));
    }
  }
}

TEST(Half, TensorDTypes) {
  EXPECT_EQ(dtype_size(DType::f16), 2u);
  EXPECT_EQ(dtype_size(DType::bf16), 2u);
  EXPECT_STREQ(dtype_name(DType::f16), "f16");
  EXPECT_STREQ(dtype_name(DType::bf16), "bf16");

  auto backend = make_cpu_backend();
  Tensor h = backend->empty({3, 5}, DType::f16);
  EXPECT_EQ(h.bytes(), 30u);
  EXPECT_EQ(h.dtype(), DType::f16);
  std::uint16_t* p = h.data_u16();
  EXPECT_EQ(static_cast<void*>(p), h.raw());
  for (int i = 0; i < 15; ++i) p[i] = float_to_f16(static_cast<float>(i));
  EXPECT_EQ(f16_to_float(std::as_const(h).data_u16()[7]), 7.0f);
  Tensor view = h.reshape({15});
  EXPECT_EQ(view.dtype(), DType::f16);
  EXPECT_EQ(view.data_u16(), p);

  Tensor b = backend->empty({4}, DType::bf16);
  EXPECT_EQ(b.bytes(), 8u);
  EXPECT_NO_THROW(b.data_u16());

  // The wrong accessor names both dtypes.
  try {
    h.data();
    ADD_FAILURE() << "f32 access to an f16 tensor";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor is f16, accessed as f32"), std::string::npos)
        << e.what();
  }
  Tensor f = backend->empty({4});
  try {
    f.data_u16();
    ADD_FAILURE() << "16-bit access to an f32 tensor";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor is f32"), std::string::npos) << e.what();
  }
  EXPECT_THROW(backend->empty({2}, DType::i32).data_u16(), Error);
  EXPECT_THROW(Tensor().data_u16(), Error);
}

}  // namespace
}  // namespace tb::tensor

namespace tb::tensor {
namespace {

TEST(HalfTensors, BackendZerosAndFillWriteTheEncodedValue) {
  auto backend = make_cpu_backend(1);
  Tensor h = backend->zeros({5}, DType::f16);
  Tensor b = backend->zeros({5}, DType::bf16);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(h.data_u16()[i], 0);
    EXPECT_EQ(b.data_u16()[i], 0);
  }
  backend->fill(h, 1.5f);
  backend->fill(b, -2.0f);
  EXPECT_EQ(h.data_u16()[4], 0x3E00);  // 1.5 in binary16
  EXPECT_EQ(b.data_u16()[4], 0xC000);  // -2.0 in bfloat16
}

}  // namespace
}  // namespace tb::tensor
