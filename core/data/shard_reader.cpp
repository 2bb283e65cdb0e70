#include "core/data/shard_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <queue>
#include <utility>

#include "core/util/error.h"

namespace tb::data::shard {
namespace {

constexpr std::uint32_t kNoShard = std::numeric_limits<std::uint32_t>::max();
// Sequential reads (ranges, iteration, verify) fetch this much at once, so a scan costs one
// system call per few hundred small records; a point read fetches only what one record needs.
constexpr std::uint64_t kScanWindow = 1u << 20;
constexpr std::uint64_t kPointWindow = 4096;

void read_exact(int fd, const std::filesystem::path& file, std::uint64_t offset, std::size_t size,
                std::byte* out) {
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::pread(fd, out + got, size - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(file, offset + got, std::string("read error (") + std::strerror(errno) + ")");
    }
    if (n == 0) {
      fail(file, offset + got,
           "file ends here (expected " + std::to_string(size - got) +
               " more bytes: truncated while open?)");
    }
    got += static_cast<std::size_t>(n);
  }
}

// Opens one shard: header, trailer, index; checks them and returns the index entries in key order.
std::vector<IndexEntry> open_shard(int fd, ShardInfo& info) {
  const auto& file = info.file;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw FormatError(file.string() + ": cannot stat (" + std::strerror(errno) + ")");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  info.file_bytes = size;
  if (size < kFixedHeaderBytes + kTrailerBytes) {
    fail(file, size,
         "file is " + std::to_string(size) + " bytes, shorter than a shard's header and trailer (" +
             std::to_string(kFixedHeaderBytes + kTrailerBytes) + " bytes): truncated?");
  }
  std::array<std::byte, kFixedHeaderBytes> fixed;
  read_exact(fd, file, 0, fixed.size(), fixed.data());
  const std::uint32_t metadata_bytes = parse_fixed_header(fixed, file, info.header);
  if (kFixedHeaderBytes + metadata_bytes + kTrailerBytes > size) {
    fail(file, 52,
         "metadata length " + std::to_string(metadata_bytes) + " runs past the trailer (file is " +
             std::to_string(size) + " bytes): truncated?");
  }
  std::vector<std::byte> metadata(metadata_bytes);
  read_exact(fd, file, kFixedHeaderBytes, metadata.size(), metadata.data());
  check_header_crc(fixed, metadata, file, info.header);

  const std::uint64_t trailer_at = size - kTrailerBytes;
  std::array<std::byte, kTrailerBytes> trailer_bytes;
  read_exact(fd, file, trailer_at, trailer_bytes.size(), trailer_bytes.data());
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
  std::vector<std::byte> index(trailer.footer_bytes - kTrailerBytes);
  read_exact(fd, file, info.index_offset, index.size(), index.data());
  const std::uint32_t crc = crc32c(std::span(trailer_bytes).first(16), crc32c(index));
  if (crc != trailer.crc) {
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

struct ShardSet::Reader {
  std::vector<int> fds;
  std::uint32_t window_shard = kNoShard;
  std::uint64_t window_start = 0;
  std::vector<std::byte> window;
  std::vector<std::byte> raw;
  ZSTD_DCtx* zstd = nullptr;
  // Where the last point read (ShardSet::read) ended, to tell runs in key order.
  std::uint32_t last_shard = kNoShard;
  std::uint64_t last_end = 0;

  Reader() = default;
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader() {
    for (int fd : fds) ::close(fd);
    ZSTD_freeDCtx(zstd);
  }

  // Makes [offset, offset + need) available in the window, reading `prefetch` bytes at least
  // (within the records). Returns a pointer to offset's byte.
  const std::byte* ensure(const ShardInfo& info, std::uint32_t shard, std::uint64_t offset,
                          std::uint64_t need, std::uint64_t prefetch) {
    if (window_shard != shard || offset < window_start ||
        offset + need > window_start + window.size()) {
      const std::uint64_t size = std::min(std::max(need, prefetch), info.index_offset - offset);
      window_shard = kNoShard;  // stays invalid if the read throws
      window.resize(size);
      read_exact(fds[shard], info.file, offset, size, window.data());
      window_shard = shard;
      window_start = offset;
    }
    return window.data() + (offset - window_start);
  }

  RecordView record(const ShardInfo& info, std::uint32_t shard, std::uint64_t offset,
                    std::uint64_t expected_key, std::uint64_t prefetch) {
    const auto& file = info.file;
    const std::uint64_t end = info.index_offset;
    if (offset + kRecordHeaderBytes > end) {
      fail(file, offset, "record header runs into the index at byte " + std::to_string(end));
    }
    const std::byte* h = ensure(info, shard, offset, kRecordHeaderBytes, prefetch);
    RecordView view;
    view.stored_bytes = get_u32(h + 4);
    const std::uint32_t raw_bytes = get_u32(h + 8);
    view.label = static_cast<std::int32_t>(get_u32(h + 12));
    view.key = get_u64(h + 16);
    if (view.stored_bytes > end - offset - kRecordHeaderBytes) {
      fail(file, offset + 4,
           "stored length " + std::to_string(view.stored_bytes) +
               " runs past the records' end at byte " + std::to_string(end) +
               " (expected at most " + std::to_string(end - offset - kRecordHeaderBytes) + ")");
    }
    const std::uint64_t expected_raw = info.header.spec.payload_bytes();
    if (raw_bytes != expected_raw) {
      fail(file, offset + 8,
           "raw length " + std::to_string(raw_bytes) + ", expected " +
               std::to_string(expected_raw) + " (" + info.header.spec.describe() + ")");
    }
    if (!info.header.zstd() && view.stored_bytes != raw_bytes) {
      fail(file, offset + 4,
           "stored length " + std::to_string(view.stored_bytes) + " differs from the raw length " +
               std::to_string(raw_bytes) + " in a shard without zstd (expected equal)");
    }
    h = ensure(info, shard, offset, kRecordHeaderBytes + view.stored_bytes, prefetch);
    const std::span<const std::byte> stored(h + kRecordHeaderBytes, view.stored_bytes);
    const std::uint32_t crc = crc32c(stored, crc32c(std::span(h + 4, 20)));
    if (crc != get_u32(h)) {
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
    if (zstd == nullptr) zstd = ZSTD_createDCtx();
    if (zstd == nullptr) throw Error("zstd: cannot create a decompression context");
    raw.resize(raw_bytes);
    const std::size_t n =
        ZSTD_decompressDCtx(zstd, raw.data(), raw.size(), stored.data(), stored.size());
    if (ZSTD_isError(n) || n != raw_bytes) {
      fail(
          file, offset + kRecordHeaderBytes,
          "zstd payload of key " + std::to_string(view.key) + " does not decompress to " +
              std::to_string(raw_bytes) + " bytes (" +
              (ZSTD_isError(n) ? std::string(ZSTD_getErrorName(n)) : std::to_string(n) + " bytes") +
              ")");
    }
    view.payload = raw;
    return view;
  }
};

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

  ShardSet set;
  set.path_ = path;
  set.reader_ = std::make_unique<Reader>();
  std::vector<std::vector<IndexEntry>> indices;
  for (const auto& file : files) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      throw FormatError(file.string() + ": cannot open (" + std::strerror(errno) + ")");
    }
    set.reader_->fds.push_back(fd);
    ShardInfo info;
    info.file = file;
    indices.push_back(open_shard(fd, info));
    if (!set.shards_.empty()) {
      const auto& first = set.shards_.front();
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
    set.shards_.push_back(std::move(info));
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
      const auto& other = set.shards_[merged.back().second.shard];
      fail(set.shards_[s].file, set.shards_[s].index_offset + i * kIndexEntryBytes,
           "key " + std::to_string(key) + " is also in " + other.file.string() + " (at byte " +
               std::to_string(merged.back().second.offset) +
               "; expected each key in one shard only)");
    }
    merged.push_back({key, Location{s, indices[s][i].offset}});
    if (next[s] < indices[s].size()) heads.push({indices[s][next[s]].key, s});
  }
  set.hash_.reserve(merged.size());
  for (const auto& [key, location] : merged) set.hash_.try_emplace(key, location);
  set.tree_.bulk_load(std::move(merged));
  return set;
}

const Location* ShardSet::find(std::uint64_t key) const {
  const auto it = hash_.find(key);
  return it == hash_.end() ? nullptr : &it->second;
}

bool ShardSet::read(std::uint64_t key, Record& out) {
  const Location* where = find(key);
  if (where == nullptr) return false;
  // A read that starts where the last one ended is most likely one of a run in key order (a
  // loader without shuffling, a range): read ahead as a scan does, not a page at a time.
  const bool continues = where->shard == reader_->last_shard && where->offset == reader_->last_end;
  const auto view = reader_->record(shards_[where->shard], where->shard, where->offset, key,
                                    continues ? kScanWindow : kPointWindow);
  reader_->last_shard = where->shard;
  reader_->last_end = where->offset + kRecordHeaderBytes + view.stored_bytes;
  out.key = view.key;
  out.label = view.label;
  out.payload.assign(view.payload.begin(), view.payload.end());
  return true;
}

Record ShardSet::read(std::uint64_t key) {
  Record record;
  if (!read(key, record)) {
    throw Error(path_.string() + ": no record with key " + std::to_string(key));
  }
  return record;
}

template <class It>
void ShardSet::visit(It first, It last, const std::function<void(const RecordView&)>& visit) {
  for (; first != last; ++first) {
    const Location& where = first->second;
    visit(reader_->record(shards_[where.shard], where.shard, where.offset, first->first,
                          kScanWindow));
  }
}

void ShardSet::range(std::uint64_t lo, std::uint64_t hi,
                     const std::function<void(const RecordView&)>& visit_record) {
  const auto r = std::as_const(tree_).range(lo, hi);
  visit(r.begin(), r.end(), visit_record);
}

void ShardSet::for_each(const std::function<void(const RecordView&)>& visit_record) {
  visit(std::as_const(tree_).begin(), std::as_const(tree_).end(), visit_record);
}

std::uint64_t ShardSet::verify() {
  std::uint64_t checked = 0;
  for (std::uint32_t s = 0; s < shards_.size(); ++s) {
    const auto& info = shards_[s];
    std::uint64_t offset = info.header.bytes();
    std::uint64_t records = 0;
    while (offset < info.index_offset) {
      // The key in the record itself is what is looked up; the checksum has vouched for it.
      const std::byte* h = reader_->ensure(
          info, s, offset, std::min<std::uint64_t>(kRecordHeaderBytes, info.index_offset - offset),
          kScanWindow);
      const std::uint64_t key =
          offset + kRecordHeaderBytes <= info.index_offset ? get_u64(h + 16) : 0;
      const auto view = reader_->record(info, s, offset, key, kScanWindow);
      const auto it = tree_.find(view.key);
      if (it == tree_.end() || !(it->second == Location{s, offset})) {
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
