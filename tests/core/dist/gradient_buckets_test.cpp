// GradientBuckets in a world of one: which gradients share a bucket, when a bucket starts, and
// what is refused. (The averaging across ranks runs under mpirun: tests/dist.)
#include "core/dist/gradient_buckets.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/tensor/backend.h"
#include "core/util/error.h"

namespace tb::dist {
namespace {

using tensor::Tensor;

struct Grads {
  std::unique_ptr<tensor::Backend> cpu = tensor::make_cpu_backend(1);
  std::vector<Tensor> tensors;
  std::vector<Tensor*> pointers() {
    std::vector<Tensor*> out;
    for (auto& t : tensors) out.push_back(&t);
    return out;
  }
  explicit Grads(const std::vector<std::int64_t>& sizes) {
    for (const auto n : sizes) {
      tensors.push_back(cpu->empty({n}));
      for (std::int64_t i = 0; i < n; ++i) tensors.back().data()[i] = static_cast<float>(i);
    }
  }
};

TEST(GradientBuckets, FillsBucketsInBackwardOrderUpToTheCap) {
  Grads g({10, 300, 5, 2000, 1});
  const auto comm = make_local_communicator();
  // 400 floats a bucket: 10 + 300 + 5 fit; 2000 is alone (too big for any); 1 starts a new one.
  GradientBuckets buckets(*comm, *g.cpu, g.pointers(), 400 * sizeof(float));
  const auto& b = buckets.buckets();
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].members, (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(b[0].elements, 315u);
  EXPECT_EQ(b[1].members, (std::vector<std::size_t>{3}));
  EXPECT_EQ(b[2].members, (std::vector<std::size_t>{4}));
  // The default cap (25 MiB) takes all of these in one bucket.
  GradientBuckets one(*comm, *g.cpu, g.pointers());
  EXPECT_EQ(one.buckets().size(), 1u);
}

TEST(GradientBuckets, BucketsStartInTheirOrderOnceTheirGradientsAreReady) {
  Grads g({10, 300, 5, 2000, 1});
  const auto comm = make_local_communicator();
  GradientBuckets buckets(*comm, *g.cpu, g.pointers(), 400 * sizeof(float));
  buckets.mark_ready(3);  // bucket 1 complete, but held: bucket 0 has not started
  buckets.mark_ready(0);
  buckets.mark_ready(2);  // bucket 0 still waits for gradient 1
  EXPECT_THROW(buckets.mark_ready(2), Error);
  EXPECT_THROW(buckets.mark_ready(5), Error);
  buckets.finish();  // starts all three itself, in order
  EXPECT_EQ(buckets.started_early(), 0u);
  EXPECT_GE(buckets.exposed_wait_s(), 0.0);
  // One rank: the average is the gradient itself, unpacked into place.
  for (const auto& t : g.tensors) {
    for (std::int64_t i = 0; i < t.numel(); ++i) ASSERT_EQ(t.data()[i], static_cast<float>(i));
  }
  // The next step starts clean: marking again is allowed. Gradient 1 completes bucket 0, which
  // starts, and bucket 1 (complete already) after it; bucket 2 waits for gradient 4.
  for (const std::size_t i : {3, 0, 2, 1}) buckets.mark_ready(i);
  buckets.finish();
  EXPECT_EQ(buckets.started_early(), 2u);
  for (std::size_t i = 0; i < 5; ++i) buckets.mark_ready(i);
  buckets.finish();
  EXPECT_EQ(buckets.started_early(), 3u);
}

TEST(GradientBuckets, RefusesGradientsThatAreNotHostFloats) {
  auto cpu = tensor::make_cpu_backend(1);
  Tensor ids = cpu->empty({4}, tensor::DType::i32);
  const auto comm = make_local_communicator();
  EXPECT_THROW(GradientBuckets(*comm, *cpu, {&ids}), Error);
  EXPECT_THROW(GradientBuckets(*comm, *cpu, {nullptr}), Error);
}

}  // namespace
}  // namespace tb::dist
