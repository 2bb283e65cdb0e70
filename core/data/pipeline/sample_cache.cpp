#include "core/data/pipeline/sample_cache.h"

#include <algorithm>

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

}  // namespace tb::data
