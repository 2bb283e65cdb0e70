#include "core/data/record_set.h"

#include <string>
#include <utility>

#include "core/util/error.h"

namespace tb::data {
namespace {

class RecordSetSource final : public shard::RecordSource {
 public:
  explicit RecordSetSource(std::shared_ptr<const RecordSet> set)
      : set_(std::move(set)), reader_(set_->open_reader()) {}
  std::string name() const override { return set_->name(); }
  SampleSpec spec() const override { return set_->spec(); }
  nlohmann::json metadata() const override { return set_->metadata(); }
  std::uint64_t size() const override { return set_->size(); }
  bool next(shard::SourceRecord& out) override {
    if (position_ >= set_->size()) return false;
    const RecordRef record = reader_->read(position_++);
    out.key = record.key;
    out.label = record.label;
    out.payload = record.payload;
    return true;
  }

 private:
  std::shared_ptr<const RecordSet> set_;
  std::unique_ptr<RecordReader> reader_;
  std::uint64_t position_ = 0;
};

class FirstRecords final : public RecordSet {
 public:
  FirstRecords(std::shared_ptr<const RecordSet> set, std::uint64_t count)
      : set_(std::move(set)), count_(count) {}
  std::string name() const override { return set_->name(); }
  SampleSpec spec() const override { return set_->spec(); }
  nlohmann::json metadata() const override { return set_->metadata(); }
  std::uint64_t size() const override { return count_; }
  // The whole set's fingerprint: it names the data the records come from.
  std::string fingerprint() const override { return set_->fingerprint(); }
  std::unique_ptr<RecordReader> open_reader() const override { return set_->open_reader(); }

 private:
  std::shared_ptr<const RecordSet> set_;
  std::uint64_t count_;
};

}  // namespace

std::int64_t metadata_classes(const nlohmann::json& metadata) {
  if (!metadata.is_object() || !metadata.contains("classes") ||
      !metadata["classes"].is_number_integer()) {
    return 0;
  }
  return metadata["classes"].get<std::int64_t>();
}

void throw_record_misfit(const std::string& where, const RecordRef& record,
                         std::size_t payload_bytes, std::int64_t classes) {
  if (record.payload.size() != payload_bytes) {
    throw FormatError(where + " has " + std::to_string(record.payload.size()) +
                      " payload bytes, expected " + std::to_string(payload_bytes));
  }
  throw FormatError(where + " has label " + std::to_string(record.label) + ", expected 0.." +
                    (classes > 0 ? std::to_string(classes - 1) : std::string("2147483647")));
}

std::shared_ptr<const RecordSet> first_records(std::shared_ptr<const RecordSet> set,
                                               std::uint64_t count) {
  if (count == 0 || count >= set->size()) return set;
  return std::make_shared<FirstRecords>(std::move(set), count);
}

std::unique_ptr<shard::RecordSource> as_record_source(std::shared_ptr<const RecordSet> set) {
  return std::make_unique<RecordSetSource>(std::move(set));
}

}  // namespace tb::data
