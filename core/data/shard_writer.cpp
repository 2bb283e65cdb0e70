#include "core/data/shard_writer.h"

#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "core/util/error.h"

namespace tb::data::shard {
namespace {

std::string shard_name(const std::string& prefix, std::uint64_t number) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "-%05llu", static_cast<unsigned long long>(number));
  return prefix + digits + kShardExtension;
}

}  // namespace

ShardWriter::ShardWriter(std::filesystem::path dir, SampleSpec spec, ShardWriterOptions options)
    : dir_(std::move(dir)), spec_(std::move(spec)), options_(std::move(options)) {
  if (spec_.shape.empty() || spec_.shape.size() > kMaxRank) {
    throw Error("shard writer: a sample needs 1.." + std::to_string(kMaxRank) + " dims, got " +
                std::to_string(spec_.shape.size()));
  }
  if (std::find(spec_.shape.begin(), spec_.shape.end(), 0u) != spec_.shape.end()) {
    throw Error("shard writer: sample shape " + spec_.describe() + " has a zero dimension");
  }
  if (spec_.payload_bytes() > 0xFFFFFFFFull) {
    throw Error("shard writer: a sample of " + spec_.describe() + " exceeds 4 GiB");
  }
  if (options_.zstd_level < 0 || options_.zstd_level > ZSTD_maxCLevel()) {
    throw Error("--zstd: level " + std::to_string(options_.zstd_level) + " (expected 0 (off) to " +
                std::to_string(ZSTD_maxCLevel()) + ")");
  }
  if (options_.metadata.size() > kMaxMetadataBytes) {
    throw Error("shard writer: metadata of " + std::to_string(options_.metadata.size()) +
                " bytes (at most " + std::to_string(kMaxMetadataBytes) + ")");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw Error(dir_.string() + ": cannot create the folder (" + ec.message() + ")");
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    if (entry.path().extension() == kShardExtension) {
      throw Error(dir_.string() + ": already holds shards (" + entry.path().filename().string() +
                  "); pack into an empty folder");
    }
  }
  header_.spec = spec_;
  header_.flags = options_.zstd_level > 0 ? kFlagZstd : 0;
  header_.metadata = options_.metadata;
}

ShardWriter::~ShardWriter() {
  if (out_ != nullptr) {
    std::fclose(out_);
    std::error_code ec;
    std::filesystem::remove(temp_path_, ec);
  }
}

void ShardWriter::write(const void* data, std::size_t bytes) {
  if (bytes != 0 && std::fwrite(data, 1, bytes, out_) != bytes) {
    throw Error(temp_path_.string() + ": cannot write at byte " + std::to_string(offset_) + " (" +
                std::strerror(errno) + ")");
  }
  offset_ += bytes;
}

void ShardWriter::open_shard() {
  final_path_ = dir_ / shard_name(options_.prefix, stats_.shards);
  temp_path_ = final_path_;
  temp_path_ += ".tmp";
  out_ = std::fopen(temp_path_.c_str(), "wb");
  if (out_ == nullptr) {
    throw Error(temp_path_.string() + ": cannot create (" + std::strerror(errno) + ")");
  }
  file_buffer_.resize(1 << 20);
  std::setvbuf(out_, file_buffer_.data(), _IOFBF, file_buffer_.size());
  offset_ = 0;
  index_.clear();
  // The count and checksum are not known yet: finish_shard() writes the header again.
  header_.record_count = 0;
  const auto bytes = encode_header(header_);
  write(bytes.data(), bytes.size());
}

void ShardWriter::finish_shard() {
  std::sort(index_.begin(), index_.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.key < b.key; });
  const auto footer = encode_footer(index_);
  write(footer.data(), footer.size());
  const std::uint64_t size = offset_;
  header_.record_count = index_.size();
  const auto header = encode_header(header_);
  if (std::fseek(out_, 0, SEEK_SET) != 0) {
    throw Error(temp_path_.string() + ": cannot seek to the header (" + std::strerror(errno) + ")");
  }
  offset_ = 0;
  write(header.data(), header.size());
  std::FILE* file = out_;
  out_ = nullptr;
  if (std::fclose(file) != 0) {
    const std::string reason = std::strerror(errno);
    std::error_code ec;
    std::filesystem::remove(temp_path_, ec);
    throw Error(temp_path_.string() + ": cannot finish writing (" + reason + ")");
  }
  std::error_code ec;
  std::filesystem::rename(temp_path_, final_path_, ec);
  if (ec) {
    throw Error(temp_path_.string() + ": cannot rename to " + final_path_.string() + " (" +
                ec.message() + ")");
  }
  files_.push_back(final_path_);
  stats_.shards += 1;
  stats_.file_bytes += size;
}

void ShardWriter::append(std::uint64_t key, std::int32_t label,
                         std::span<const std::byte> payload) {
  if (closed_) throw Error(dir_.string() + ": shard writer is closed");
  if (payload.size() != spec_.payload_bytes()) {
    throw Error("record key " + std::to_string(key) + ": payload of " +
                std::to_string(payload.size()) + " bytes, expected " +
                std::to_string(spec_.payload_bytes()) + " (" + spec_.describe() + ")");
  }
  const auto [where, added] = seen_.try_emplace(key, static_cast<std::uint32_t>(stats_.shards));
  if (!added) {
    throw Error("record key " + std::to_string(key) + " appended twice (first in " +
                shard_name(options_.prefix, where->second) + ")");
  }
  std::span<const std::byte> stored = payload;
  if (options_.zstd_level > 0) {
    compressed_.resize(ZSTD_compressBound(payload.size()));
    const std::size_t n = ZSTD_compress(compressed_.data(), compressed_.size(), payload.data(),
                                        payload.size(), options_.zstd_level);
    if (ZSTD_isError(n)) {
      throw Error("record key " + std::to_string(key) + ": zstd compression failed (" +
                  ZSTD_getErrorName(n) + ")");
    }
    stored = std::span<const std::byte>(compressed_.data(), n);
  }
  const std::uint64_t record_bytes = kRecordHeaderBytes + stored.size();
  if (out_ != nullptr && !index_.empty() &&
      offset_ + record_bytes + (index_.size() + 1) * kIndexEntryBytes + kTrailerBytes >
          options_.shard_size) {
    finish_shard();
  }
  if (out_ == nullptr) {
    open_shard();
    where->second = static_cast<std::uint32_t>(stats_.shards);
  }
  std::byte head[kRecordHeaderBytes];
  encode_record_header(head, key, label, static_cast<std::uint32_t>(payload.size()), stored);
  index_.push_back({key, offset_});
  write(head, sizeof head);
  write(stored.data(), stored.size());
  stats_.records += 1;
  stats_.raw_payload_bytes += payload.size();
  stats_.stored_payload_bytes += stored.size();
}

void ShardWriter::close() {
  if (closed_) return;
  closed_ = true;
  if (out_ != nullptr) finish_shard();
}

}  // namespace tb::data::shard
