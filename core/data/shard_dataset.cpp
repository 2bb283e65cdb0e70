#include "core/data/shard_dataset.h"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "core/data/formats/fashion_mnist.h"
#include "core/data/idx.h"
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

}  // namespace tb::data::shard
