#include "core/data/shard_dataset.h"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/data/formats/fashion_mnist.h"
#include "core/data/idx.h"
#include "core/data/pipeline/sample_decoder.h"
#include "core/data/record_set.h"
#include "core/util/error.h"

namespace tb::data::shard {
using nlohmann::json;

std::unique_ptr<RecordSource> fashion_mnist_source(const std::filesystem::path& dir,
                                                   const std::string& prefix, std::int64_t limit) {
  return as_record_source(fashion_mnist_record_set(dir, prefix, limit));
}

std::uint64_t pack(RecordSource& source, ShardWriter& writer, std::uint64_t key_offset) {
  if (source.spec() != writer.spec()) {
    throw Error(source.name() + ": samples are " + source.spec().describe() +
                ", the shards being written hold " + writer.spec().describe());
  }
  SourceRecord record;
  std::uint64_t count = 0;
  while (source.next(record)) {
    writer.append(key_offset + record.key, record.label, record.payload);
    ++count;
  }
  return count;
}

ShardSummary summarize(const std::filesystem::path& path, std::size_t examples, bool verify) {
  const auto start = std::chrono::steady_clock::now();
  ShardSummary s;
  auto set = ShardSet::open(path);
  s.path = path;
  s.spec = set.spec();
  s.metadata = set.metadata();
  s.records = set.size();
  s.shards = set.shards().size();
  for (const auto& info : set.shards()) {
    s.file_bytes += info.file_bytes;
    s.zstd_shards += info.header.zstd() ? 1 : 0;
  }
  if (!set.index().empty()) {
    s.first_key = set.index().begin()->first;
    s.last_key = std::prev(set.index().end())->first;
  }
  s.raw_payload_bytes = s.records * s.spec.payload_bytes();
  // The first records in key order: a range read through the B+tree.
  std::size_t shown = 0;
  for (auto it = set.index().begin(); it != set.index().end() && shown < examples; ++it) {
    ++shown;
  }
  if (shown > 0) {
    const auto last = std::next(set.index().begin(), static_cast<std::ptrdiff_t>(shown - 1));
    set.range(s.first_key, last->first + 1, [&](const RecordView& r) {
      s.examples.push_back({r.key, r.label, r.stored_bytes});
    });
  }
  if (verify) {
    s.verified = true;
    try {
      set.verify();
    } catch (const FormatError& e) {
      s.verify_error = e.what();
    }
    // Stored bytes follow from the file layout once the records are known to be sound.
    for (const auto& info : set.shards()) {
      s.stored_payload_bytes +=
          info.index_offset - info.header.bytes() - info.header.record_count * kRecordHeaderBytes;
    }
  }
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

json to_json(const ShardSummary& s) {
  json examples = json::array();
  for (const auto& e : s.examples) {
    examples.push_back({{"key", e.key}, {"label", e.label}, {"stored_bytes", e.stored_bytes}});
  }
  json meta = json::parse(s.metadata, nullptr, false);
  if (meta.is_discarded()) meta = s.metadata;
  json out = {{"path", s.path.string()},
              {"sample", {{"dtype", dtype_name(s.spec.dtype)}, {"shape", s.spec.shape}}},
              {"metadata", meta},
              {"records", s.records},
              {"shards", s.shards},
              {"zstd_shards", s.zstd_shards},
              {"first_key", s.first_key},
              {"last_key", s.last_key},
              {"file_bytes", s.file_bytes},
              {"raw_payload_bytes", s.raw_payload_bytes},
              {"examples", examples},
              {"seconds", s.seconds}};
  if (s.verified) {
    out["stored_payload_bytes"] = s.stored_payload_bytes;
    out["compression_ratio"] =
        s.stored_payload_bytes
            ? static_cast<double>(s.raw_payload_bytes) / static_cast<double>(s.stored_payload_bytes)
            : 1.0;
    out["verify"] = {{"ok", s.verify_error.empty()}, {"error", s.verify_error}};
  }
  return out;
}

std::string finish_fingerprint(std::uint32_t payload_crc, std::span<const std::int32_t> labels) {
  uLong crc = payload_crc;
  // The labels after the payloads, as the IDX fingerprint hashes its two files.
  const bool bytes_suffice =
      std::all_of(labels.begin(), labels.end(), [](std::int32_t label) { return label < 256; });
  if (bytes_suffice) {
    std::vector<std::uint8_t> bytes(labels.begin(), labels.end());
    crc = crc32_z(crc, bytes.data(), bytes.size());
  } else {
    std::vector<std::byte> bytes(labels.size() * 4);
    for (std::size_t i = 0; i < labels.size(); ++i) {
      put_u32(&bytes[4 * i], static_cast<std::uint32_t>(labels[i]));
    }
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size());
  }
  char fingerprint[24];
  std::snprintf(fingerprint, sizeof fingerprint, "crc32:%08lx", crc);
  return fingerprint;
}

std::string fingerprint(ShardSet& set) {
  uLong crc = crc32(0L, Z_NULL, 0);
  std::vector<std::int32_t> labels;
  labels.reserve(set.size());
  set.for_each([&](const RecordView& r) {
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(r.payload.data()), r.payload.size());
    labels.push_back(r.label);
  });
  return finish_fingerprint(static_cast<std::uint32_t>(crc), labels);
}

InMemoryDataset load_shard_dataset(const std::filesystem::path& dir, std::int64_t limit) {
  auto set = ShardSet::open(dir);
  const auto& first_file = set.shards().front().file;
  const json meta = json::parse(set.metadata(), nullptr, false);
  if (!meta.is_object()) {
    throw FormatError(first_file.string() + ": at byte 64: metadata is not a JSON object");
  }
  InMemoryDataset data;
  data.name = meta.value("name", "shards:" + dir.filename().string());
  const auto& spec = set.spec();
  std::vector<std::int64_t> dims(spec.shape.begin(), spec.shape.end());
  data.sample_shape = tensor::Shape(dims);
  const SampleDecoder decoder(spec, meta, first_file.string() + ": at byte 64");
  data.raw_mean = decoder.mean();
  data.raw_std = decoder.stddev();
  if (meta.contains("class_names") && meta["class_names"].is_array()) {
    for (const auto& name : meta["class_names"]) {
      data.class_names.push_back(name.is_string() ? name.get<std::string>() : name.dump());
    }
  }
  std::int64_t classes = meta.contains("classes") && meta["classes"].is_number_integer()
                             ? meta["classes"].get<std::int64_t>()
                             : 0;

  const std::uint64_t total = set.size();
  const std::uint64_t keep = limit > 0 && static_cast<std::uint64_t>(limit) < total
                                 ? static_cast<std::uint64_t>(limit)
                                 : total;
  const std::size_t numel = spec.numel();
  data.features.resize(keep * numel);
  data.labels.reserve(total);
  uLong crc = crc32(0L, Z_NULL, 0);
  std::uint64_t n = 0;
  std::int32_t max_label = -1;
  set.for_each([&](const RecordView& r) {
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(r.payload.data()), r.payload.size());
    if (r.label < 0) {
      const auto where = set.find(r.key);
      fail(set.shards()[where->shard].file, where->offset + 12,
           "label " + std::to_string(r.label) + " of key " + std::to_string(r.key) +
               " is negative (expected a class index)");
    }
    max_label = std::max(max_label, r.label);
    data.labels.push_back(r.label);
    if (n < keep) decoder.decode(r.payload, {data.features.data() + n * numel, numel});
    ++n;
  });
  data.fingerprint = finish_fingerprint(static_cast<std::uint32_t>(crc), data.labels);
  data.labels.resize(keep);
  if (classes <= 0) classes = max_label + 1;
  if (max_label >= classes) {
    throw FormatError(first_file.string() + ": at byte 64: a record's label " +
                      std::to_string(max_label) + " is outside the metadata's " +
                      std::to_string(classes) + " classes");
  }
  data.classes = classes;
  return data;
}

TrainTestSplit load_shard_split(const std::filesystem::path& dir, std::int64_t train_limit,
                                std::int64_t test_limit) {
  return {load_shard_dataset(dir / "train", train_limit),
          load_shard_dataset(dir / "test", test_limit)};
}

}  // namespace tb::data::shard
