#include "core/data/pipeline/sample_cache.h"

#include <algorithm>

#include "core/data/lmdb_cache.h"

namespace tb::data {

bool MemorySampleCache::get(std::uint64_t key, std::span<float> out, std::int32_t& label) {
  const std::lock_guard lock(mutex_);
  const auto found = index_.find(key);
  if (found == index_.end() || found->second->sample.size() != out.size()) {
    ++stats_.misses;
    return false;
  }
  recency_.splice(recency_.begin(), recency_, found->second);
  std::copy(found->second->sample.begin(), found->second->sample.end(), out.begin());
  label = found->second->label;
  ++stats_.hits;
  return true;
}

void MemorySampleCache::put(std::uint64_t key, std::span<const float> sample, std::int32_t label) {
  const std::size_t bytes = sample.size() * sizeof(float);
  if (bytes > budget_bytes_) return;
  const std::lock_guard lock(mutex_);
  if (index_.contains(key)) return;  // another worker decoded it first
  while (stats_.bytes + bytes > budget_bytes_ && !recency_.empty()) {
    const Entry& oldest = recency_.back();
    stats_.bytes -= oldest.sample.size() * sizeof(float);
    index_.erase(oldest.key);
    recency_.pop_back();
    ++stats_.evictions;
  }
  recency_.push_front({key, label, std::vector<float>(sample.begin(), sample.end())});
  index_[key] = recency_.begin();
  stats_.bytes += bytes;
  stats_.entries = recency_.size();
}

SampleCacheStats MemorySampleCache::stats() const {
  const std::lock_guard lock(mutex_);
  SampleCacheStats stats = stats_;
  stats.entries = recency_.size();
  return stats;
}

namespace {

class LmdbCache final : public SampleCache {
 public:
  LmdbCache(const std::filesystem::path& dir, const std::string& fingerprint,
            std::uint64_t sample_floats, std::uint64_t budget_bytes)
      : cache_(dir, fingerprint, sample_floats, LmdbCacheOptions{budget_bytes, 256}) {}
  bool get(std::uint64_t key, std::span<float> out, std::int32_t& label) override {
    return cache_.get(key, out, label);
  }
  void put(std::uint64_t key, std::span<const float> sample, std::int32_t label) override {
    cache_.put(key, sample, label);
  }
  SampleCacheStats stats() const override {
    const auto s = cache_.stats();
    SampleCacheStats out;
    out.hits = s.hits;
    out.misses = s.misses;
    out.entries = s.entries + s.pending;
    out.bytes = out.entries * cache_.sample_floats() * sizeof(float);
    out.evictions = s.dropped;  // a full LMDB cache keeps what it has and refuses the rest
    return out;
  }

 private:
  LmdbSampleCache cache_;
};

}  // namespace

std::shared_ptr<SampleCache> open_lmdb_sample_cache(const std::filesystem::path& dir,
                                                    const std::string& fingerprint,
                                                    std::uint64_t sample_floats,
                                                    std::uint64_t budget_bytes) {
  return std::make_shared<LmdbCache>(dir, fingerprint, sample_floats, budget_bytes);
}

}  // namespace tb::data
