// Bucketed gradient averaging across 2 and 4 ranks: every gradient ends as the mean of the
// ranks' gradients, whether its bucket started during "backward" or in finish().
#include "core/dist/gradient_buckets.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/tensor/backend.h"

namespace tb::dist {
namespace {

TEST(MpiGradientBuckets, EveryGradientBecomesTheMeanOverRanks) {
  const auto comm = make_mpi_communicator();
  const int n = comm->size(), r = comm->rank();
  auto cpu = tensor::make_cpu_backend(1);
  const std::vector<std::int64_t> sizes = {7, 1000, 33, 5000, 2};
  std::vector<tensor::Tensor> grads;
  std::vector<tensor::Tensor*> pointers;
  for (const auto s : sizes) grads.push_back(cpu->empty({s}));
  for (auto& g : grads) pointers.push_back(&g);
  GradientBuckets buckets(*comm, *cpu, pointers, 1200 * sizeof(float));
  ASSERT_EQ(buckets.buckets().size(), 3u);
  for (int step = 0; step < 3; ++step) {
    // Rank r's gradient j, element i: r * 10 + j + i + step; the mean over ranks is
    // (n - 1) * 5 + j + i + step.
    for (std::size_t j = 0; j < grads.size(); ++j) {
      for (std::int64_t i = 0; i < grads[j].numel(); ++i) {
        grads[j].data()[i] = static_cast<float>(r * 10 + static_cast<int>(j + i) + step);
      }
    }
    // Step 0 marks every gradient (all buckets start early), step 1 some, step 2 none.
    const std::size_t marked = step == 0 ? grads.size() : step == 1 ? 2 : 0;
    for (std::size_t j = 0; j < marked; ++j) buckets.mark_ready(j);
    buckets.finish();
    for (std::size_t j = 0; j < grads.size(); ++j) {
      for (std::int64_t i = 0; i < grads[j].numel(); ++i) {
        ASSERT_FLOAT_EQ(grads[j].data()[i],
                        static_cast<float>((n - 1) * 5) + static_cast<float>(j + i + step))
            << "step " << step << " gradient " << j << " element " << i;
      }
    }
  }
}

}  // namespace
}  // namespace tb::dist
