// Caches of decoded samples (before augmentation), keyed by sample key, so an epoch after the
// first skips reading and decoding: MemorySampleCache (bounded by bytes, least recently used
// out first) here, the LMDB cache on disk (data/lmdb_cache.h) for samples that outlive the run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/ds/hash_map.h"

namespace tb::data {

struct SampleCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::uint64_t evictions = 0;
};

// Thread-safe: the pipeline's workers get and put concurrently.
class SampleCache {
 public:
  virtual ~SampleCache() = default;
  // Copies the sample into out (its size is the sample's numel) and its label; false when absent.
  virtual bool get(std::uint64_t key, std::span<float> out, std::int32_t& label) = 0;
  virtual void put(std::uint64_t key, std::span<const float> sample, std::int32_t label) = 0;
  virtual SampleCacheStats stats() const = 0;
};

// In memory, at most `budget_bytes` of sample data (floats; bookkeeping not counted). A sample
// larger than the budget is not kept.
class MemorySampleCache final : public SampleCache {
 public:
  explicit MemorySampleCache(std::size_t budget_bytes) : budget_bytes_(budget_bytes) {}
  bool get(std::uint64_t key, std::span<float> out, std::int32_t& label) override;
  void put(std::uint64_t key, std::span<const float> sample, std::int32_t label) override;
  SampleCacheStats stats() const override;

 private:
  struct Entry {
    std::uint64_t key;
    std::int32_t label;
    std::vector<float> sample;
  };
  mutable std::mutex mutex_;
  std::size_t budget_bytes_;
  std::list<Entry> recency_;  // most recently used first
  ds::FlatHashMap<std::uint64_t, std::list<Entry>::iterator> index_;
  SampleCacheStats stats_;
};

// The LMDB cache on disk (data/lmdb_cache.h) behind this interface: decoded samples that outlive
// the run, so the next run of the same data skips decoding too. The cache in `dir` is emptied
// when it holds another fingerprint or sample size; `budget_bytes` bounds the file.
std::shared_ptr<SampleCache> open_lmdb_sample_cache(const std::filesystem::path& dir,
                                                    const std::string& fingerprint,
                                                    std::uint64_t sample_floats,
                                                    std::uint64_t budget_bytes);

}  // namespace tb::data
