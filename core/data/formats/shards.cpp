#include "core/data/formats/shards.h"

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/data/shard_dataset.h"
#include "core/data/shard_reader.h"
#include "core/util/error.h"

namespace tb::data {
namespace {

using Entry = std::pair<std::uint64_t, shard::Location>;  // key, where its record is

// Position -> (key, location) straight from an array, and the record checked in place in the
// mapped shard: no lookup, no copy.
class ShardReader final : public RecordReader {
 public:
  ShardReader(shard::ShardSet set, const std::vector<Entry>& entries)
      : set_(std::move(set)), entries_(entries) {}
  RecordRef read(std::uint64_t position) override {
    if (position >= entries_.size()) {
      throw FormatError(set_.path().string() + ": no record at position " +
                        std::to_string(position) + " (the set holds " +
                        std::to_string(entries_.size()) + ")");
    }
    const auto& [key, where] = entries_[position];
    const auto view = set_.read_at(where, key);
    return {view.key, view.label, view.payload};
  }
  void prefetch(std::uint64_t position) override {
    if (position < entries_.size()) set_.prefetch(entries_[position].second);
  }

 private:
  shard::ShardSet set_;
  const std::vector<Entry>& entries_;  // owned by the ShardRecordSet, which outlives readers
};

class ShardRecordSet final : public RecordSet {
 public:
  explicit ShardRecordSet(const std::filesystem::path& path) : set_(shard::ShardSet::open(path)) {
    metadata_ = nlohmann::json::parse(set_.metadata(), nullptr, false);
    if (!metadata_.is_object()) {
      throw FormatError(set_.shards().front().file.string() +
                        ": at byte 64: metadata is not a JSON object");
    }
    entries_.reserve(set_.size());
    for (const auto& entry : set_.index()) entries_.emplace_back(entry.first, entry.second);
  }
  std::string name() const override {
    return metadata_.value("name", "shards:" + set_.path().filename().string());
  }
  SampleSpec spec() const override { return set_.spec(); }
  nlohmann::json metadata() const override { return metadata_; }
  std::uint64_t size() const override { return entries_.size(); }
  // Reads the whole set once, at the first call (a session asks once, when it starts).
  std::string fingerprint() const override {
    std::call_once(fingerprint_once_, [&] {
      auto set = set_.share();
      fingerprint_ = shard::fingerprint(set);
    });
    return fingerprint_;
  }
  std::unique_ptr<RecordReader> open_reader() const override {
    return std::make_unique<ShardReader>(set_.share(), entries_);
  }

 private:
  shard::ShardSet set_;
  nlohmann::json metadata_;
  std::vector<Entry> entries_;  // position -> record, in key order
  mutable std::once_flag fingerprint_once_;
  mutable std::string fingerprint_;
};

}  // namespace

std::shared_ptr<const RecordSet> open_shard_record_set(const std::filesystem::path& path) {
  return std::make_shared<ShardRecordSet>(path);
}

}  // namespace tb::data
