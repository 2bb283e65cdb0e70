// BatchUploader's order of work: each batch comes out whole and in order, the next one is taken
// and its upload started when a batch is handed out (one ahead), each batch is uploaded once, and
// reset() drops the batch uploaded ahead. On the CPU upload_async copies at once, so this checks
// the bookkeeping; the overlap itself is the CUDA backend's (tests/gpu).
#include "core/run/batch_uploader.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace tb::run {
namespace {

// Batch b of `count`: `size` samples of [1, 2, 2] with feature j of sample i = b * 1000 + i * 4
// + j, label (b + i) % 10.
class CountingSource {
 public:
  CountingSource(int count, std::int64_t size) : count_(count), size_(size) {}
  bool operator()(data::LoadedBatch& out) {
    ++calls;
    if (next_ >= count_) return false;
    const int b = next_++;
    out.index = b;
    out.size = size_;
    out.features.resize(static_cast<std::size_t>(size_ * 4));
    out.labels.resize(static_cast<std::size_t>(size_));
    for (std::int64_t i = 0; i < size_; ++i) {
      for (int j = 0; j < 4; ++j) {
        out.features[static_cast<std::size_t>(i * 4 + j)] =
            static_cast<float>(b * 1000 + i * 4 + j);
      }
      out.labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((b + i) % 10);
    }
    return true;
  }
  int calls = 0;

 private:
  int count_;
  std::int64_t size_;
  int next_ = 0;
};

void expect_batch(const BatchUploader& uploader, int b, std::int64_t size) {
  ASSERT_EQ(uploader.size(), size);
  ASSERT_EQ(uploader.x().shape(), tensor::Shape({size, 1, 2, 2}));
  ASSERT_EQ(uploader.y().shape(), tensor::Shape({size}));
  for (std::int64_t i = 0; i < size; ++i) {
    for (int j = 0; j < 4; ++j) {
      EXPECT_EQ(uploader.x().data()[i * 4 + j], static_cast<float>(b * 1000 + i * 4 + j))
          << "batch " << b;
    }
    EXPECT_EQ(uploader.y().data_i32()[i], (b + i) % 10) << "batch " << b;
  }
}

TEST(BatchUploader, HandsOutEveryBatchInOrderWithTheNextOneAlreadyTaken) {
  auto backend = tensor::make_cpu_backend(1);
  BatchUploader uploader(*backend, {1, 2, 2});
  CountingSource source(5, 3);
  auto next = [&] { return uploader.next([&](data::LoadedBatch& b) { return source(b); }); };

  ASSERT_TRUE(next());
  expect_batch(uploader, 0, 3);
  EXPECT_EQ(source.calls, 2) << "batch 1 is taken and its upload started with batch 0";
  EXPECT_EQ(uploader.uploads_started(), 2);
  for (int b = 1; b < 5; ++b) {
    ASSERT_TRUE(next());
    expect_batch(uploader, b, 3);
  }
  EXPECT_FALSE(next());
  EXPECT_FALSE(next());  // and stays at the end
  EXPECT_EQ(uploader.uploads_started(), 5) << "each batch uploaded once";
}

TEST(BatchUploader, ResetDropsTheBatchUploadedAhead) {
  auto backend = tensor::make_cpu_backend(1);
  BatchUploader uploader(*backend, {1, 2, 2});
  CountingSource source(4, 2);
  auto next = [&] { return uploader.next([&](data::LoadedBatch& b) { return source(b); }); };
  ASSERT_TRUE(next());
  expect_batch(uploader, 0, 2);
  uploader.reset();  // batch 1, uploaded ahead, is not handed out
  ASSERT_TRUE(next());
  expect_batch(uploader, 2, 2);
  ASSERT_TRUE(next());
  expect_batch(uploader, 3, 2);
  EXPECT_FALSE(next());
}

TEST(BatchUploader, AnEmptySourceGivesNothing) {
  auto backend = tensor::make_cpu_backend(1);
  BatchUploader uploader(*backend, {1, 2, 2});
  CountingSource source(0, 2);
  EXPECT_FALSE(uploader.next([&](data::LoadedBatch& b) { return source(b); }));
  EXPECT_EQ(uploader.uploads_started(), 0);
}

}  // namespace
}  // namespace tb::run
