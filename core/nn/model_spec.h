// What a model is, as the project file's `model` section says it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb::nn {

struct ConvBlockSpec {
  std::int64_t channels = 32;
  std::int64_t kernel = 3;  // odd; padded to keep the size ("same")
  std::int64_t pool = 2;    // max-pool window and stride after the block; 1: none
  bool batch_norm = false;
};

struct ModelSpec {
  // "mlp" | "cnn" (dense samples); "bow" | "recsys" (sparse samples, see nn/sparse.h)
  std::string type = "mlp";
  std::vector<std::int64_t> hidden = {256, 128};  // fully connected hidden sizes
  std::vector<ConvBlockSpec> conv;                // cnn: conv -> [batch norm] -> ReLU -> [pool]
  double dropout = 0.0;                           // before the last Linear of the head
  std::int64_t embedding_dim = 32;                // recsys: width of the user and item tables
};

}  // namespace tb::nn
