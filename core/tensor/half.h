// 16-bit floating point formats: IEEE 754 binary16 ("f16") and bfloat16 ("bf16").
//
// Values are kept as their raw bits in std::uint16_t: the CPU has no arithmetic on either format,
// so the engine computes in float and uses these only for storage and to emulate the rounding a
// 16-bit format imposes (mixed precision on the CPU calls round_to_f16 / round_to_bf16).
//
// Every float -> 16-bit conversion rounds to nearest, ties to even, whatever the FPU's rounding
// mode: it is done on the bits alone. Both directions keep the sign of zero, keep infinities, and
// turn every NaN into a quiet NaN of the same sign with as much of its payload as fits (what x86
// F16C does, so the bulk and scalar paths agree bit for bit). f16 subnormals are produced
// and read exactly; f16 overflows to infinity from 65520 up (the midpoint between 65504, the
// largest f16, and 65536, where the next one would be; the tie goes to the even "65536" = inf).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>

namespace tb::tensor {

// ---- scalar conversions (inline: the bulk loops and per-element callers want them inlined) ----

// All-ones when `condition` holds, else zero: the conversions select among cases with masks, not
// branches (and not ?:, which GCC may turn back into branches), so that bulk loops vectorise.
namespace detail {
inline std::uint32_t half_mask(bool condition) {
  return 0u - static_cast<std::uint32_t>(condition);
}
}  // namespace detail

inline std::uint16_t float_to_f16(float value) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t ax = x & 0x7FFFFFFFu;
  // NaN: quiet, with the payload's top bits.
  const std::uint32_t nan = 0x7E00u | ((ax >> 13) & 0x3FFu);
  // Normal f16 (2^-14 <= |x| < 65520): rebias the exponent from 127 to 15, then round away the 13
  // low mantissa bits: adding 0xFFF plus the kept lowest bit carries exactly when the dropped part
  // is above half, or exactly half with an odd kept part. A carry out of the mantissa bumps the
  // exponent, which is the right answer.
  const std::uint32_t r = ax - 0x38000000u;
  const std::uint32_t normal = (r + 0xFFFu + ((r >> 13) & 1u)) >> 13;
  // Subnormal f16 or zero (|x| < 2^-14): k * 2^-24 with k = significand >> shift, rounded to
  // nearest even by hand. Below 2^-25 (and for float subnormals) the shift is clamped to 31,
  // which leaves 0 with a remainder under half: zero, as it should be.
  const auto exponent = static_cast<std::int32_t>(ax >> 23);
  const auto shift = static_cast<std::uint32_t>(std::clamp(126 - exponent, 1, 31));
  const std::uint32_t significand = (ax & 0x7FFFFFu) | 0x800000u;
  const std::uint32_t kept = significand >> shift;
  const std::uint32_t rest = significand & ((1u << shift) - 1u);
  const std::uint32_t half = 1u << (shift - 1u);
  const std::uint32_t up =
      (detail::half_mask(rest > half) | (detail::half_mask(rest == half) & kept)) & 1u;
  const std::uint32_t subnormal = kept + up;  // may reach 0x400: 2^-14, the smallest normal

  const std::uint32_t is_nan = detail::half_mask(ax > 0x7F800000u);
  const std::uint32_t is_inf = detail::half_mask(ax >= 0x477FF000u) & ~is_nan;  // from 65520 up
  const std::uint32_t is_normal = detail::half_mask(ax >= 0x38800000u) & ~is_inf & ~is_nan;
  const std::uint32_t is_subnormal = ~detail::half_mask(ax >= 0x38800000u);
  return static_cast<std::uint16_t>(sign | (nan & is_nan) | (0x7C00u & is_inf) |
                                    (normal & is_normal) | (subnormal & is_subnormal));
}

inline float f16_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t magnitude = bits & 0x7FFFu;
  const std::uint32_t shifted = magnitude << 13;
  // Normal: rebias the exponent from 15 to 127 (+112).
  const std::uint32_t normal = shifted + 0x38000000u;
  // Inf or NaN: all-ones exponent; a NaN is made quiet and keeps its payload.
  const std::uint32_t special =
      (shifted + 0x70000000u) | (detail::half_mask(magnitude > 0x7C00u) & 0x00400000u);
  // Zero or subnormal: mantissa * 2^-24 is exact in float (a 10-bit integer times a power of two
  // well inside float's normal range), so let the FPU normalise it.
  const std::uint32_t subnormal = std::bit_cast<std::uint32_t>(
      static_cast<float>(static_cast<std::int32_t>(magnitude)) * 0x1.0p-24f);
  const std::uint32_t is_special = detail::half_mask(magnitude >= 0x7C00u);
  const std::uint32_t is_normal = detail::half_mask(magnitude >= 0x0400u);
  const std::uint32_t result =
      (special & is_special) | (normal & is_normal & ~is_special) | (subnormal & ~is_normal);
  return std::bit_cast<float>(sign | result);
}

inline std::uint16_t float_to_bf16(float value) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((x >> 16) | 0x0040u);
  // bf16 is float with 16 mantissa bits dropped, so the same carry trick as f16 rounds it; the
  // shared exponent makes subnormals and overflow to inf (from 0x7F7F8000 up) fall out of it.
  return static_cast<std::uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

inline float bf16_to_float(std::uint16_t bits) {
  std::uint32_t x = static_cast<std::uint32_t>(bits) << 16;
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) x |= 0x00400000u;  // quiet a signalling NaN
  return std::bit_cast<float>(x);
}

// The nearest value of the 16-bit format, as a float: what storing in that format and reading
// back gives. Mixed precision on the CPU applies these to emulate 16-bit storage.
inline float round_to_f16(float value) {
  return f16_to_float(float_to_f16(value));
}
inline float round_to_bf16(float value) {
  return bf16_to_float(float_to_bf16(value));
}

// ---- bulk conversions: element-wise, n elements; source and destination must not overlap ----

// The f16 ones use x86's F16C instructions where the CPU has them (checked at run time unless the
// build already targets such a CPU), otherwise the scalar code above in loops the compiler
// vectorises; both give identical bits.
void float_to_f16(const float* src, std::uint16_t* dst, std::size_t n);
void f16_to_float(const std::uint16_t* src, float* dst, std::size_t n);
void float_to_bf16(const float* src, std::uint16_t* dst, std::size_t n);
void bf16_to_float(const std::uint16_t* src, float* dst, std::size_t n);

// In place: every element replaced by its nearest f16 / bf16 value.
void round_to_f16(std::span<float> values);
void round_to_bf16(std::span<float> values);

// Whether the bulk f16 conversions use the F16C instructions on this machine.
bool f16_uses_hardware();

}  // namespace tb::tensor
