// Random draws that are the same on every standard library (std::uniform_real_distribution and
// std::normal_distribution are not), so a seed gives the same data and weights everywhere.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

namespace tb {

// Uniform double in [0, 1) from the top 53 bits of a 64-bit draw.
inline double uniform01(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// Standard normal by Box-Muller over two uniform01 draws.
inline double standard_normal(std::mt19937_64& rng) {
  const double u1 = 1.0 - uniform01(rng());  // (0, 1]: log(u1) is finite
  const double u2 = uniform01(rng());
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace tb
