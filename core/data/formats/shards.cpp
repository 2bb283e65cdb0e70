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

class ShardReader final : public RecordReader {
 public:
  ShardReader(shard::ShardSet set, const std::vector<std::uint64_t>& keys)
      : set_(std::move(set)), keys_(keys) {}
  RecordRef read(std::uint64_t position) override {
    if (position >= keys_.size()) {
      throw FormatError(set_.path().string() + ": no record at position " +
                        std::to_string(position) + " (the set holds " +
                        std::to_string(keys_.size()) + ")");
    }
    set_.read(keys_[position], record_);
    return {record_.key, record_.label, record_.payload};
  }

 private:
  shard::ShardSet set_;
  const std::vector<std::uint64_t>& keys_;  // owned by the ShardRecordSet, which outlives readers
  shard::Record record_;
};

class ShardRecordSet final : public RecordSet {
 public:
  explicit ShardRecordSet(const std::filesystem::path& path) : set_(shard::ShardSet::open(path)) {
    metadata_ = nlohmann::json::parse(set_.metadata(), nullptr, false);
    if (!metadata_.is_object()) {
      throw FormatError(set_.shards().front().file.string() +
                        ": at byte 64: metadata is not a JSON object");
    }
    keys_.reserve(set_.size());
    for (const auto& entry : set_.index()) keys_.push_back(entry.first);
  }
  std::string name() const override {
    return metadata_.value("name", "shards:" + set_.path().filename().string());
  }
  SampleSpec spec() const override { return set_.spec(); }
  nlohmann::json metadata() const override { return metadata_; }
  std::uint64_t size() const override { return keys_.size(); }
  // Reads the whole set once, at the first call (a session asks once, when it starts).
  std::string fingerprint() const override {
    std::call_once(fingerprint_once_, [&] {
      auto set = shard::ShardSet::open(set_.path());
      fingerprint_ = shard::fingerprint(set);
    });
    return fingerprint_;
  }
  std::unique_ptr<RecordReader> open_reader() const override {
    return std::make_unique<ShardReader>(shard::ShardSet::open(set_.path()), keys_);
  }

 private:
  shard::ShardSet set_;
  nlohmann::json metadata_;
  std::vector<std::uint64_t> keys_;  // position -> key, ascending
  mutable std::once_flag fingerprint_once_;
  mutable std::string fingerprint_;
};

}  // namespace

std::shared_ptr<const RecordSet> open_shard_record_set(const std::filesystem::path& path) {
  return std::make_shared<ShardRecordSet>(path);
}

}  // namespace tb::data
