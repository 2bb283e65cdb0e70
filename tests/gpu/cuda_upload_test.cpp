// Batches onto the GPU: pinned host memory, upload_async on the copy stream ordered after the ops
// that still read the buffer, and BatchUploader over the CUDA backend.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "core/run/batch_uploader.h"
#include "core/tensor/host_memory.h"
#include "tests/gpu/gpu_test_support.h"

namespace tb::gpu::testing {
namespace {

std::vector<float> download_all(const Tensor& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  cuda()->download(t, out.data(), out.size() * sizeof(float));
  return out;
}

TEST(CudaUpload, HostMemoryIsPinnedAndCached) {
  TB_REQUIRE_GPU();
  const auto memory = cuda()->host_memory();
  ASSERT_NE(memory, nullptr);
  EXPECT_TRUE(memory->pinned());
  auto* cache = dynamic_cast<tensor::CachingHostMemory*>(memory.get());
  ASSERT_NE(cache, nullptr);
  const auto before = cache->stats();
  for (int i = 0; i < 10; ++i) {
    tensor::HostVector<float> batch{tensor::HostAllocator<float>(memory.get())};
    batch.resize(100'000);
  }
  const auto after = cache->stats();
  EXPECT_LE(after.upstream_allocations - before.upstream_allocations, 1);
  EXPECT_GE(after.cache_hits - before.cache_hits, 9);
}

TEST(CudaUpload, AsyncUploadDeliversTheBytes) {
  TB_REQUIRE_GPU();
  const auto memory = cuda()->host_memory();
  tensor::HostVector<float> host{tensor::HostAllocator<float>(memory.get())};
  host.resize(1 << 20);
  std::iota(host.begin(), host.end(), 0.5f);
  Tensor x = cuda()->empty({1 << 20});
  cuda()->upload_async(x, host.data(), host.size() * sizeof(float));
  cuda()->finish_uploads();
  EXPECT_EQ(download_all(x), std::vector<float>(host.begin(), host.end()));
}

// The upload into a buffer waits for the ops issued before it that read the buffer: a copy out
// of x issued first still sees x's old values.
TEST(CudaUpload, AnUploadWaitsForTheOpsThatStillReadItsBuffer) {
  TB_REQUIRE_GPU();
  constexpr std::int64_t n = 1 << 24;  // 64 MB: long enough for an unordered copy to race ahead
  Tensor x = cuda()->empty({n});
  cuda()->fill(x, 1.0f);
  Tensor seen = cuda()->empty({n});
  for (int i = 0; i < 4; ++i) cuda()->scale(x, 1.0f);  // queue work ahead of the read
  cuda()->copy(x, seen);
  const auto memory = cuda()->host_memory();
  tensor::HostVector<float> host{tensor::HostAllocator<float>(memory.get())};
  host.assign(static_cast<std::size_t>(n), 2.0f);
  cuda()->upload_async(x, host.data(), host.size() * sizeof(float));
  cuda()->finish_uploads();
  cuda()->synchronize();
  const auto old_values = download_all(seen);
  const auto new_values = download_all(x);
  EXPECT_TRUE(std::all_of(old_values.begin(), old_values.end(), [](float v) { return v == 1.0f; }));
  EXPECT_TRUE(std::all_of(new_values.begin(), new_values.end(), [](float v) { return v == 2.0f; }));
}

TEST(CudaUpload, BatchUploaderDeliversEveryBatchInOrder) {
  TB_REQUIRE_GPU();
  run::BatchUploader uploader(*cuda(), {1, 28, 28});
  const auto memory = cuda()->host_memory();
  int next = 0;
  auto source = [&](data::LoadedBatch& out) {
    if (next == 6) return false;
    tensor::use_host_memory(out.features, memory.get());
    tensor::use_host_memory(out.labels, memory.get());
    out.size = 128;
    out.features.assign(128 * 784, static_cast<float>(next));
    out.labels.assign(128, next);
    ++next;
    return true;
  };
  for (int b = 0; b < 6; ++b) {
    ASSERT_TRUE(uploader.next(source));
    // Work on the current batch while the next one is copied.
    Tensor doubled = cuda()->empty(uploader.x().shape());
    cuda()->copy(uploader.x(), doubled);
    cuda()->scale(doubled, 2.0f);
    const auto values = download_all(doubled);
    EXPECT_TRUE(std::all_of(values.begin(), values.end(),
                            [&](float v) { return v == 2.0f * static_cast<float>(b); }))
        << "batch " << b;
    std::vector<std::int32_t> labels(128);
    cuda()->download(uploader.y(), labels.data(), labels.size() * sizeof(std::int32_t));
    EXPECT_EQ(labels, std::vector<std::int32_t>(128, b));
  }
  EXPECT_FALSE(uploader.next(source));
  EXPECT_EQ(uploader.uploads_started(), 6);
}

}  // namespace
}  // namespace tb::gpu::testing
