#include "core/data/shard_reader.h"

#include <zstd.h>

#include <algorithm>
#include <limits>
#include <queue>
#include <utility>

#include "core/util/error.h"
#include "core/util/mapped_file.h"

namespace tb::data::shard {
namespace {

constexpr std::uint32_t kNoShard = std::numeric_limits<std::uint32_t>::max();

// A shard shorter now than when it was mapped reads as zeros past its new end; whatever check
// that fails is reported as what it is.
void check_not_truncated(const MappedFile& map, const std::filesystem::path& file,
                         std::uint64_t offset) {
  if (map.truncated()) {
    fail(file, offset,
         "the file lost bytes while open (truncated by another process, or a read error; it was " +
             std::to_string(map.size()) + " bytes when opened)");
  }
}

// Opens one shard: header, trailer, index; checks them and returns the index entries in key order.
std::vector<IndexEntry> open_shard(const MappedFile& map, ShardInfo& info) {
  const auto& file = info.file;
  const auto bytes = map.bytes();
  const std::uint64_t size = map.size();
  info.file_bytes = size;
  if (size < kFixedHeaderBytes + kTrailerBytes) {
    fail(file, size,
         "file is " + std::to_string(size) + " bytes, shorter than a shard's header and trailer (" +
             std::to_string(kFixedHeaderBytes + kTrailerBytes) + " bytes): truncated?");
  }
  const auto fixed = bytes.first<kFixedHeaderBytes>();
  const std::uint32_t metadata_bytes = parse_fixed_header(fixed, file, info.header);
  info.payload_bytes = info.header.spec.payload_bytes();
  if (kFixedHeaderBytes + metadata_bytes + kTrailerBytes > size) {
    fail(file, 52,
         "metadata length " + std::to_string(metadata_bytes) + " runs past the trailer (file is " +
             std::to_string(size) + " bytes): truncated?");
  }
  check_header_crc(fixed, bytes.subspan(kFixedHeaderBytes, metadata_bytes), file, info.header);

  const std::uint64_t trailer_at = size - kTrailerBytes;
  const auto trailer_bytes = bytes.subspan(trailer_at).first<kTrailerBytes>();
  const Trailer trailer = parse_trailer(trailer_bytes, file, trailer_at);
  const std::uint64_t records_begin = info.header.bytes();
  if (trailer.footer_bytes > size - records_begin) {
    fail(file, trailer_at + 8,
         "footer length " + std::to_string(trailer.footer_bytes) +
             " runs into the header (file is " + std::to_string(size) + " bytes, header " +
             std::to_string(records_begin) + ")");
  }
  if (trailer.entry_count != info.header.record_count) {
    fail(file, trailer_at,
         "index holds " + std::to_string(trailer.entry_count) + " entries, the header " +
             std::to_string(info.header.record_count) + " records (expected equal)");
  }
  info.index_offset = size - trailer.footer_bytes;
  const auto index = bytes.subspan(info.index_offset, trailer.footer_bytes - kTrailerBytes);
  const std::uint32_t crc = crc32c(trailer_bytes.first(16), crc32c(index));
  if (crc != trailer.crc) {
    check_not_truncated(map, file, info.index_offset);
    fail(file, trailer_at + 16,
         "index checksum " + hex32(trailer.crc) + " does not match the index (" + hex32(crc) +
             ", CRC32C of the entries and trailer bytes 0..16)");
  }
  std::vector<IndexEntry> entries(trailer.entry_count);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::byte* p = index.data() + i * kIndexEntryBytes;
    const std::uint64_t at = info.index_offset + i * kIndexEntryBytes;
    entries[i] = {get_u64(p), get_u64(p + 8)};
    if (i > 0 && entries[i].key <= entries[i - 1].key) {
      fail(file, at,
           "index key " + std::to_string(entries[i].key) + " is not after the previous key " +
               std::to_string(entries[i - 1].key) + " (expected strictly increasing keys)");
    }
    if (entries[i].offset < records_begin ||
        entries[i].offset + kRecordHeaderBytes > info.index_offset) {
      fail(file, at + 8,
           "record offset " + std::to_string(entries[i].offset) + " of key " +
               std::to_string(entries[i].key) + " is outside the records (expected " +
               std::to_string(records_begin) + ".." +
               std::to_string(info.index_offset - kRecordHeaderBytes) + ")");
    }
  }
  if (!entries.empty()) {
    info.first_key = entries.front().key;
    info.last_key = entries.back().key;
  }
  return entries;
}

}  // namespace

struct ShardSet::Files {
  std::filesystem::path path;
  std::vector<ShardInfo> shards;
  std::vector<MappedFile> maps;  // one per shard
  ds::BPlusTreeMap<std::uint64_t, Location> tree;
  ds::FlatHashMap<std::uint64_t, Location> hash;
};

struct ShardSet::Decoder {
  ZSTD_DCtx* zstd = nullptr;
  std::vector<std::byte> raw;

  Decoder() = default;
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
  ~Decoder() { ZSTD_freeDCtx(zstd); }
};

namespace {

// The record at `offset` of a shard, every length and the checksum checked; decompressed into
// `decoder` when the shard is zstd's.
template <class Decoder>
RecordView read_record(const ShardInfo& info, const MappedFile& map, std::uint64_t offset,
                       std::uint64_t expected_key, Decoder& decoder) {
  const auto& file = info.file;
  const std::uint64_t end = info.index_offset;
  if (offset + kRecordHeaderBytes > end) {
    fail(file, offset, "record header runs into the index at byte " + std::to_string(end));
  }
  const std::byte* h = map.bytes().data() + offset;
  RecordView view;
  view.stored_bytes = get_u32(h + 4);
  const std::uint32_t raw_bytes = get_u32(h + 8);
  view.label = static_cast<std::int32_t>(get_u32(h + 12));
  view.key = get_u64(h + 16);
  const std::uint64_t expected_raw = info.payload_bytes;
  if (view.stored_bytes > end - offset - kRecordHeaderBytes || raw_bytes != expected_raw ||
      (!info.header.zstd() && view.stored_bytes != raw_bytes)) {
    check_not_truncated(map, file, offset);
  }
  if (view.stored_bytes > end - offset - kRecordHeaderBytes) {
    fail(file, offset + 4,
         "stored length " + std::to_string(view.stored_bytes) +
             " runs past the records' end at byte " + std::to_string(end) + " (expected at most " +
             std::to_string(end - offset - kRecordHeaderBytes) + ")");
  }
  if (raw_bytes != expected_raw) {
    fail(file, offset + 8,
         "raw length " + std::to_string(raw_bytes) + ", expected " + std::to_string(expected_raw) +
             " (" + info.header.spec.describe() + ")");
  }
  if (!info.header.zstd() && view.stored_bytes != raw_bytes) {
    fail(file, offset + 4,
         "stored length " + std::to_string(view.stored_bytes) + " differs from the raw length " +
             std::to_string(raw_bytes) + " in a shard without zstd (expected equal)");
  }
  const std::span<const std::byte> stored(h + kRecordHeaderBytes, view.stored_bytes);
  // The checksummed header bytes (4..24) run straight into the payload: one pass over both.
  const std::uint32_t crc = crc32c(std::span(h + 4, 20 + std::size_t{view.stored_bytes}));
  if (crc != get_u32(h)) {
    check_not_truncated(map, file, offset);
    fail(file, offset,
         "record checksum " + hex32(get_u32(h)) + " does not match the record (" + hex32(crc) +
             ", CRC32C of its key, label, lengths and payload)");
  }
  if (view.key != expected_key) {
    fail(file, offset + 16,
         "record key " + std::to_string(view.key) + ", the index says " +
             std::to_string(expected_key) + " at this offset");
  }
  if (!info.header.zstd()) {
    view.payload = stored;
    return view;
  }
  if (decoder.zstd == nullptr) decoder.zstd = ZSTD_createDCtx();
  if (decoder.zstd == nullptr) throw Error("zstd: cannot create a decompression context");
  decoder.raw.resize(raw_bytes);
  const std::size_t n = ZSTD_decompressDCtx(decoder.zstd, decoder.raw.data(), decoder.raw.size(),
                                            stored.data(), stored.size());
  if (ZSTD_isError(n) || n != raw_bytes) {
    fail(file, offset + kRecordHeaderBytes,
         "zstd payload of key " + std::to_string(view.key) + " does not decompress to " +
             std::to_string(raw_bytes) + " bytes (" +
             (ZSTD_isError(n) ? std::string(ZSTD_getErrorName(n)) : std::to_string(n) + " bytes") +
             ")");
  }
  view.payload = decoder.raw;
  return view;
}

}  // namespace

ShardSet::ShardSet(ShardSet&&) noexcept = default;
ShardSet& ShardSet::operator=(ShardSet&&) noexcept = default;
ShardSet::~ShardSet() = default;

ShardSet ShardSet::open(const std::filesystem::path& path) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (entry.path().extension() == kShardExtension && entry.is_regular_file()) {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      throw FormatError(path.string() +
                        ": holds no .tbs shards (expected a folder written by `trainbench data "
                        "pack`, or one .tbs file)");
    }
  } else if (std::filesystem::exists(path, ec)) {
    files.push_back(path);
  } else {
    throw FormatError(path.string() + ": no such file or folder");
  }
  if (files.size() >= kNoShard) throw FormatError(path.string() + ": too many shards");

  auto built = std::make_shared<Files>();
  built->path = path;
  std::vector<std::vector<IndexEntry>> indices;
  for (const auto& file : files) {
    built->maps.push_back(MappedFile::open(file));
    ShardInfo info;
    info.file = file;
    indices.push_back(open_shard(built->maps.back(), info));
    if (!built->shards.empty()) {
      const auto& first = built->shards.front();
      if (info.header.spec != first.header.spec) {
        fail(file, 24,
             "sample " + info.header.spec.describe() + " differs from " + first.file.string() +
                 "'s " + first.header.spec.describe() + " (expected one pack's shards only)");
      }
      if (info.header.metadata != first.header.metadata) {
        fail(file, kFixedHeaderBytes,
             "metadata differs from " + first.file.string() +
                 "'s (expected one pack's shards only)");
      }
    }
    built->shards.push_back(std::move(info));
  }

  // K-way merge of the sorted indices; equal keys meet here, one after the other.
  using Head = std::pair<std::uint64_t, std::uint32_t>;  // key, shard
  std::priority_queue<Head, std::vector<Head>, std::greater<>> heads;
  std::vector<std::size_t> next(indices.size(), 0);
  std::size_t total = 0;
  for (std::uint32_t s = 0; s < indices.size(); ++s) {
    total += indices[s].size();
    if (!indices[s].empty()) heads.push({indices[s][0].key, s});
  }
  std::vector<std::pair<std::uint64_t, Location>> merged;
  merged.reserve(total);
  while (!heads.empty()) {
    const auto [key, s] = heads.top();
    heads.pop();
    const std::size_t i = next[s]++;
    if (!merged.empty() && merged.back().first == key) {
      const auto& other = built->shards[merged.back().second.shard];
      fail(built->shards[s].file, built->shards[s].index_offset + i * kIndexEntryBytes,
           "key " + std::to_string(key) + " is also in " + other.file.string() + " (at byte " +
               std::to_string(merged.back().second.offset) +
               "; expected each key in one shard only)");
    }
    merged.push_back({key, Location{s, indices[s][i].offset}});
    if (next[s] < indices[s].size()) heads.push({indices[s][next[s]].key, s});
  }
  built->hash.reserve(merged.size());
  for (const auto& [key, location] : merged) built->hash.try_emplace(key, location);
  built->tree.bulk_load(std::move(merged));

  ShardSet set;
  set.files_ = std::move(built);
  set.decoder_ = std::make_unique<Decoder>();
  return set;
}

ShardSet ShardSet::share() const {
  ShardSet set;
  set.files_ = files_;
  set.decoder_ = std::make_unique<Decoder>();
  return set;
}

std::uint64_t ShardSet::size() const {
  return files_->tree.size();
}
const std::filesystem::path& ShardSet::path() const {
  return files_->path;
}
const SampleSpec& ShardSet::spec() const {
  return files_->shards.front().header.spec;
}
const std::string& ShardSet::metadata() const {
  return files_->shards.front().header.metadata;
}
const std::vector<ShardInfo>& ShardSet::shards() const {
  return files_->shards;
}
const ds::BPlusTreeMap<std::uint64_t, Location>& ShardSet::index() const {
  return files_->tree;
}

const Location* ShardSet::find(std::uint64_t key) const {
  const auto it = files_->hash.find(key);
  return it == files_->hash.end() ? nullptr : &it->second;
}

RecordView ShardSet::read_at(const Location& where, std::uint64_t key) {
  return read_record(files_->shards[where.shard], files_->maps[where.shard], where.offset, key,
                     *decoder_);
}

void ShardSet::prefetch(const Location& where) const {
  if (where.shard >= files_->maps.size()) return;
  const auto& info = files_->shards[where.shard];
  const auto bytes = files_->maps[where.shard].bytes();
  if (where.offset >= info.index_offset) return;
  // A zstd record's stored length is unknown until its header is read: its first lines only.
  const std::uint64_t want = info.header.zstd() ? 256 : kRecordHeaderBytes + info.payload_bytes;
  const std::uint64_t end = std::min(where.offset + want, info.index_offset);
  for (std::uint64_t at = where.offset & ~std::uint64_t{63}; at < end; at += 64) {
    __builtin_prefetch(bytes.data() + at);
  }
}

bool ShardSet::read(std::uint64_t key, Record& out) {
  const Location* where = find(key);
  if (where == nullptr) return false;
  const auto view = read_at(*where, key);
  out.key = view.key;
  out.label = view.label;
  out.payload.assign(view.payload.begin(), view.payload.end());
  return true;
}

Record ShardSet::read(std::uint64_t key) {
  Record record;
  if (!read(key, record)) {
    throw Error(path().string() + ": no record with key " + std::to_string(key));
  }
  return record;
}

template <class It>
void ShardSet::visit(It first, It last, const std::function<void(const RecordView&)>& visit) {
  for (; first != last; ++first) visit(read_at(first->second, first->first));
}

void ShardSet::range(std::uint64_t lo, std::uint64_t hi,
                     const std::function<void(const RecordView&)>& visit_record) {
  const auto r = std::as_const(files_->tree).range(lo, hi);
  visit(r.begin(), r.end(), visit_record);
}

void ShardSet::for_each(const std::function<void(const RecordView&)>& visit_record) {
  visit(std::as_const(files_->tree).begin(), std::as_const(files_->tree).end(), visit_record);
}

std::uint64_t ShardSet::verify() {
  std::uint64_t checked = 0;
  const auto& tree = files_->tree;
  for (std::uint32_t s = 0; s < files_->shards.size(); ++s) {
    const auto& info = files_->shards[s];
    const auto& map = files_->maps[s];
    std::uint64_t offset = info.header.bytes();
    std::uint64_t records = 0;
    while (offset < info.index_offset) {
      // The key in the record itself is what is looked up; the checksum has vouched for it.
      const std::uint64_t key = offset + kRecordHeaderBytes <= info.index_offset
                                    ? get_u64(map.bytes().data() + offset + 16)
                                    : 0;
      const auto view = read_record(info, map, offset, key, *decoder_);
      const auto it = tree.find(view.key);
      if (it == tree.end() || !(it->second == Location{s, offset})) {
        fail(info.file, offset,
             "record of key " + std::to_string(view.key) +
                 " is not listed at this offset in the index (expected every record indexed)");
      }
      offset += kRecordHeaderBytes + view.stored_bytes;
      ++records;
    }
    if (records != info.header.record_count) {
      fail(info.file, info.index_offset,
           "the records hold " + std::to_string(records) + " records, the index " +
               std::to_string(info.header.record_count) + " (expected equal)");
    }
    checked += records;
  }
  return checked;
}

}  // namespace tb::data::shard
