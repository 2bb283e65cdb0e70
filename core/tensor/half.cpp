#include "core/tensor/half.h"

// F16C (x86, since 2012) converts 8 floats <-> f16 in one instruction, rounding to nearest even
// and quieting NaNs exactly like the scalar code in half.h. A build for a CPU that has it
// (-march=native there) uses it directly; a portable x86 build compiles the same loops for F16C
// separately and picks them at run time when the CPU has it; elsewhere the scalar code runs in
// loops the compiler vectorises.
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TB_HALF_X86 1
#else
#define TB_HALF_X86 0
#endif

namespace tb::tensor {

namespace {

#if TB_HALF_X86

// The vector part of each loop; returns how many elements it did (a multiple of 8).
__attribute__((target("avx,f16c"))) std::size_t to_f16_f16c(const float* src, std::uint16_t* dst,
                                                            std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  return i;
}

__attribute__((target("avx,f16c"))) std::size_t from_f16_f16c(const std::uint16_t* src, float* dst,
                                                              std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  return i;
}

__attribute__((target("avx,f16c"))) std::size_t round_f16_f16c(float* v, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(v + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_ps(v + i, _mm256_cvtph_ps(h));
  }
  return i;
}

bool cpu_has_f16c() {
#if defined(__F16C__) && defined(__AVX__)
  return true;
#else
  // Checked once; "avx" also means the OS saves the YMM registers.
  static const bool has = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return has;
#endif
}

#else

std::size_t to_f16_f16c(const float*, std::uint16_t*, std::size_t) {
  return 0;
}
std::size_t from_f16_f16c(const std::uint16_t*, float*, std::size_t) {
  return 0;
}
std::size_t round_f16_f16c(float*, std::size_t) {
  return 0;
}
bool cpu_has_f16c() {
  return false;
}

#endif

}  // namespace

void float_to_f16(const float* src, std::uint16_t* dst, std::size_t n) {
  const std::size_t done = cpu_has_f16c() ? to_f16_f16c(src, dst, n) : 0;
  for (std::size_t i = done; i < n; ++i) dst[i] = float_to_f16(src[i]);
}

void f16_to_float(const std::uint16_t* src, float* dst, std::size_t n) {
  const std::size_t done = cpu_has_f16c() ? from_f16_f16c(src, dst, n) : 0;
  for (std::size_t i = done; i < n; ++i) dst[i] = f16_to_float(src[i]);
}

void float_to_bf16(const float* src, std::uint16_t* dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = float_to_bf16(src[i]);
}

void bf16_to_float(const std::uint16_t* src, float* dst, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_to_float(src[i]);
}

void round_to_f16(std::span<float> values) {
  float* v = values.data();
  const std::size_t n = values.size();
  const std::size_t done = cpu_has_f16c() ? round_f16_f16c(v, n) : 0;
  for (std::size_t i = done; i < n; ++i) v[i] = round_to_f16(v[i]);
}

void round_to_bf16(std::span<float> values) {
  for (float& v : values) v = round_to_bf16(v);
}

bool f16_uses_hardware() {
  return cpu_has_f16c();
}

}  // namespace tb::tensor
