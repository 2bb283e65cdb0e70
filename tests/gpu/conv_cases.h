// The convolution shapes the GPU tests run (odd sizes, strides, paddings, kernels of 1 to 5, and
// one large enough that the CUDA backend splits its columns into two chunks), shared by the f32
// and the 16-bit convolution tests.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor/backend.h"

namespace tb::gpu::testing {

struct ConvCase {
  std::int64_t batch, in_channels, out_channels, h, w, kernel, stride, padding;
};

inline std::string describe(const ConvCase& c) {
  // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "N" + to_string(..).
  std::string text = "N";
  for (const auto& [prefix, value] : {std::pair<const char*, std::int64_t>{"", c.batch},
                                      {" C", c.in_channels},
                                      {" OC", c.out_channels},
                                      {" ", c.h},
                                      {"x", c.w},
                                      {" K", c.kernel},
                                      {" S", c.stride},
                                      {" P", c.padding}}) {
    text += prefix;
    text += std::to_string(value);
  }
  return text;
}

inline tensor::Conv2dGeometry geometry(const ConvCase& c) {
  tensor::Conv2dGeometry g;
  g.in_channels = c.in_channels;
  g.out_channels = c.out_channels;
  g.kernel = c.kernel;
  g.stride = c.stride;
  g.padding = c.padding;
  g.in_h = c.h;
  g.in_w = c.w;
  return g;
}

inline const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {2, 3, 4, 8, 8, 3, 1, 1},
      {3, 2, 5, 9, 7, 3, 2, 0},
      {2, 4, 3, 6, 6, 1, 1, 0},
      {2, 4, 3, 7, 6, 1, 2, 0},
      {2, 3, 2, 11, 10, 5, 2, 1},
      {1, 2, 3, 5, 5, 5, 1, 0},
      {2, 3, 4, 7, 7, 3, 2, 1},
      {4, 1, 6, 12, 12, 5, 1, 1},
      // Columns of 28 images fill the 64 MiB workspace: two chunks, the second adding to dW.
      {32, 64, 16, 32, 32, 3, 1, 1},
  };
  return cases;
}

}  // namespace tb::gpu::testing
