// Records held in memory as a shard::RecordSource: what the format tests write with every writer
// (write_hdf5, write_npz, write_lmdb, ...) and read back.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/shard_dataset.h"

namespace tb::testing {

struct TestRecord {
  std::uint64_t key = 0;
  std::int32_t label = 0;
  std::vector<std::byte> payload;
};

class VectorSource final : public data::shard::RecordSource {
 public:
  VectorSource(data::shard::SampleSpec spec, std::vector<TestRecord> records,
               nlohmann::json metadata = nlohmann::json::object())
      : spec_(std::move(spec)), records_(std::move(records)), metadata_(std::move(metadata)) {}
  std::string name() const override { return "test-source"; }
  data::shard::SampleSpec spec() const override { return spec_; }
  nlohmann::json metadata() const override { return metadata_; }
  std::uint64_t size() const override { return records_.size(); }
  bool next(data::shard::SourceRecord& out) override {
    if (next_ == records_.size()) return false;
    const auto& r = records_[next_++];
    out.key = r.key;
    out.label = r.label;
    out.payload = r.payload;
    return true;
  }

 private:
  data::shard::SampleSpec spec_;
  std::vector<TestRecord> records_;
  nlohmann::json metadata_;
  std::size_t next_ = 0;
};

}  // namespace tb::testing
