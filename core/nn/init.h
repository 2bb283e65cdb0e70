// Parameter initialisation, drawn on the host from the model's seeded generator and uploaded, so
// every backend starts from the same weights.
#pragma once

#include <random>

#include "core/tensor/backend.h"

namespace tb::nn {

// Fills t with U(-bound, bound).
void init_uniform(tensor::Backend& backend, tensor::Tensor& t, float bound, std::mt19937_64& rng);

}  // namespace tb::nn
