// BatchLoader: batch mode of the data pipeline. Epochs over a RecordSet of known size, in a
// global order fixed by a seeded permutation, decoded by N worker threads into a bounded queue of
// `prefetch` batches that the training loop takes in order.
//
// Guarantees (tested):
// - Exactly once: every position of the set is in exactly one batch of an epoch, for any worker
//   count (minus the records skipped with on_error skip, counted in stats()).
// - Determinism: for a seed, the sequence of batches (order, contents, augmentation) is the same
//   whatever the worker count and the prefetch depth. Batch b always holds permutation entries
//   [b * batch_size, (b + 1) * batch_size); workers fill whichever batch comes next, and the
//   queue hands batches out by index.
// - Errors: a record that cannot be read throws its tb::FormatError (file and byte offset) from
//   next(), at the batch that holds it; with OnError::skip it is left out and counted.
//
// Workers: each opens its own RecordReader; a worker reads, decodes (SampleDecoder), consults the
// cache and augments. workers = 0 decodes on the calling thread inside next(). With a Recorder,
// each batch a worker fills is a "decode" span (category data) on the worker's thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/data/pipeline/augment.h"
#include "core/data/pipeline/sample_cache.h"
#include "core/data/pipeline/sample_decoder.h"
#include "core/data/record_set.h"
#include "core/tensor/host_memory.h"
#include "core/trace/recorder.h"

namespace tb::data {

enum class OnError { fail, skip };

struct LoaderOptions {
  std::int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;
  // Data parallelism: this process is rank `shard_rank` of `shard_count`. Every rank walks the
  // same seeded order in global batches of batch_size * shard_count samples, and takes its own
  // batch_size slice of each: the ranks' batch b, in rank order, is the one-process batch b of
  // the global size, so every sample is read by exactly one rank once per epoch. In the last
  // global batch a rank may get fewer samples, or none (an empty batch, size 0).
  int shard_rank = 0;
  int shard_count = 1;
  std::uint64_t seed = 0;
  int workers = 2;
  int prefetch = 4;  // batches decoded ahead of the consumer, >= 1
  OnError on_error = OnError::fail;
  AugmentSpec augment;                 // needs samples of rank 3 [C, H, W]
  std::shared_ptr<SampleCache> cache;  // decoded samples by key; none when null
  trace::Recorder* recorder = nullptr;
  // Where batches' features are decoded into: the backend's (pinned on CUDA, so the upload is
  // asynchronous with no copy in between); plain memory when null.
  std::shared_ptr<tensor::HostMemory> host_memory;
};

struct LoadedBatch {
  std::int64_t index = 0;  // within the epoch
  std::int64_t size = 0;
  tensor::HostVector<float> features;       // [size, sample numel], in LoaderOptions::host_memory
  tensor::HostVector<std::int32_t> labels;  // [size], in LoaderOptions::host_memory
  std::vector<std::uint64_t> positions;     // [size]: each sample's position in the set
};

struct LoaderStats {
  std::uint64_t samples = 0;  // delivered by next()
  std::uint64_t decoded = 0;  // read and decoded (not from the cache)
  std::uint64_t cache_hits = 0;
  std::uint64_t skipped_records = 0;  // unreadable, left out (on_error skip)
};

class BatchLoader {
 public:
  // Throws tb::Error for bad options (batch_size < 1, prefetch < 1, workers < 0, augmentation of
  // samples that are not [C, H, W]).
  BatchLoader(std::shared_ptr<const RecordSet> set, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  std::uint64_t size() const { return size_; }
  std::int64_t batches_per_epoch() const { return batches_; }
  // The samples rank `rank` gets in batch `batch` (all ranks know every rank's share, so a
  // gradient can be weighted by it without asking the others).
  std::int64_t shard_samples(std::int64_t batch, int rank) const;
  const SampleDecoder& decoder() const { return decoder_; }
  const RecordSet& set() const { return *set_; }

  // Starts `epoch` (0-based) with that epoch's order, passing over its first `skip_batches`
  // batches unread (resuming inside an epoch). Waits for batches of the previous epoch in work.
  void start_epoch(std::int64_t epoch, std::int64_t skip_batches = 0);
  // The next batch of the epoch, in order; false at its end. Rethrows a worker's error.
  bool next(LoadedBatch& out);
  // Batches decoded and waiting (the prefetch queue's depth), for instrumentation.
  std::int64_t ready_batches() const;
  LoaderStats stats() const;
  // The epoch's permutation of positions.
  const std::vector<std::int64_t>& order() const { return order_; }

 private:
  struct Slot {
    std::int64_t batch = -1;  // the batch it holds once ready; -1 when free
    LoadedBatch data;
    std::exception_ptr error;
  };
  struct WorkerState {
    std::unique_ptr<RecordReader> reader;
    std::vector<float> scratch;
  };

  void worker_loop(WorkerState& state);
  // Reads, decodes and augments batch `batch` of the current epoch into out; throws on a bad
  // record under OnError::fail.
  void fill(WorkerState& state, std::int64_t batch, LoadedBatch& out);

  std::shared_ptr<const RecordSet> set_;
  LoaderOptions options_;
  SampleDecoder decoder_;
  std::uint64_t size_ = 0;
  std::uint64_t numel_ = 0;
  std::int64_t classes_ = 0;  // metadata "classes"; labels are checked against it when > 0
  std::int64_t batches_ = 0;
  std::int64_t epoch_ = -1;
  std::vector<std::int64_t> order_;

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;   // workers wait for a batch to claim
  std::condition_variable batch_ready_;  // the consumer waits for its batch
  std::vector<Slot> slots_;              // batch b lives in slots_[b % prefetch]
  std::int64_t next_claim_ = 0;          // the next batch a worker takes
  std::int64_t next_consume_ = 0;        // the next batch next() returns
  std::int64_t in_flight_ = 0;           // batches being filled right now
  bool stopping_ = false;
  LoaderStats stats_;
  WorkerState inline_state_;  // workers = 0
  std::vector<std::thread> threads_;
};

}  // namespace tb::data
