// Model specs the nn tests share: a plain MLP and the tiny CNN (one conv block with batch norm).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/nn/model_spec.h"

namespace tb::nn::test_specs {

inline ModelSpec mlp(std::vector<std::int64_t> hidden, double dropout = 0.0) {
  ModelSpec s;
  s.type = "mlp";
  s.hidden = std::move(hidden);
  s.dropout = dropout;
  return s;
}

// One conv block (4 channels, batch norm, 2x2 pool), hidden [16].
inline ModelSpec tiny_cnn() {
  ModelSpec s;
  s.type = "cnn";
  s.hidden = {16};
  s.conv = {ConvBlockSpec{.channels = 4, .kernel = 3, .pool = 2, .batch_norm = true}};
  return s;
}

}  // namespace tb::nn::test_specs
