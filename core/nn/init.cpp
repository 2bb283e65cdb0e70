#include "core/nn/init.h"

#include <vector>

namespace tb::nn {

void init_uniform(tensor::Backend& backend, tensor::Tensor& t, float bound, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> dist(-bound, bound);
  std::vector<float> host(static_cast<std::size_t>(t.numel()));
  for (auto& v : host) v = dist(rng);
  backend.upload(t, host.data(), host.size() * sizeof(float));
}

}  // namespace tb::nn
