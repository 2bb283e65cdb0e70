#include "core/data/formats/tfrecord.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <system_error>
#include <utility>

#include "core/data/formats/example.pb.h"
#include "core/data/shard_format.h"
#include "core/util/error.h"

namespace tb::data {

using shard::crc32c;
using shard::fail;
using shard::get_u32;
using shard::get_u64;
using shard::hex32;
using shard::put_u32;
using shard::put_u64;

namespace {

// The scan reads this much at once, so small records cost one system call per thousands of them.
constexpr std::size_t kScanWindow = 1u << 20;
// A reader keeps this many files open: a shuffled epoch over a folder of hundreds of files
// neither reopens a file per read nor holds hundreds of descriptors per worker.
constexpr std::size_t kMaxOpenFiles = 16;

std::uint32_t masked_crc(std::span<const std::byte> bytes) {
  return tfrecord_mask(crc32c(bytes));
}

std::string errno_text() {
  return std::strerror(errno);
}

// What a file that fails its first length CRC probably is, for the error message.
std::string compression_hint(const std::byte* first, std::uint64_t size) {
  if (size < 2) return "";
  const auto b0 = std::to_integer<unsigned>(first[0]), b1 = std::to_integer<unsigned>(first[1]);
  if (b0 == 0x1f && b1 == 0x8b) return "; the file looks gzip-compressed: decompress it first";
  if (b0 == 0x78 && (b0 * 256 + b1) % 31 == 0) {
    return "; the file looks zlib-compressed: decompress it first";
  }
  return "";
}

void check_spec(const SampleSpec& spec, const std::string& what) {
  if (spec.shape.empty() ||
      std::find(spec.shape.begin(), spec.shape.end(), 0u) != spec.shape.end()) {
    throw Error(what + ": sample shape " + spec.describe() +
                " is empty or has a zero dimension (the schema must give the samples' spec)");
  }
}

}  // namespace

std::uint32_t tfrecord_mask(std::uint32_t crc) noexcept {
  return ((crc >> 15) | (crc << 17)) + kTfRecordMaskDelta;
}

std::uint32_t tfrecord_unmask(std::uint32_t masked) noexcept {
  const std::uint32_t rotated = masked - kTfRecordMaskDelta;
  return (rotated >> 17) | (rotated << 15);
}

std::vector<std::byte> tfrecord_frame(std::span<const std::byte> data) {
  std::vector<std::byte> out(kTfRecordHeaderBytes + data.size() + kTfRecordFooterBytes);
  put_u64(out.data(), data.size());
  put_u32(out.data() + 8, masked_crc(std::span(out.data(), 8)));
  if (!data.empty()) std::memcpy(out.data() + kTfRecordHeaderBytes, data.data(), data.size());
  put_u32(out.data() + kTfRecordHeaderBytes + data.size(), masked_crc(data));
  return out;
}

// ---- TfRecordWriter ----

TfRecordWriter::TfRecordWriter(std::filesystem::path path) : path_(std::move(path)) {
  out_ = std::fopen(path_.c_str(), "wb");
  if (out_ == nullptr) throw Error(path_.string() + ": cannot create (" + errno_text() + ")");
}

TfRecordWriter::~TfRecordWriter() {
  if (out_ != nullptr) std::fclose(out_);
}

void TfRecordWriter::put(const void* data, std::size_t size) {
  if (out_ == nullptr) throw Error(path_.string() + ": written after close()");
  if (size != 0 && std::fwrite(data, 1, size, out_) != size) {
    throw Error(path_.string() + ": cannot write at byte " + std::to_string(bytes_) + " (" +
                errno_text() + ")");
  }
  bytes_ += size;
}

std::uint64_t TfRecordWriter::write(std::span<const std::byte> data) {
  const std::uint64_t offset = bytes_;
  std::byte header[kTfRecordHeaderBytes];
  put_u64(header, data.size());
  put_u32(header + 8, masked_crc(std::span(header, 8)));
  std::byte footer[kTfRecordFooterBytes];
  put_u32(footer, masked_crc(data));
  put(header, sizeof header);
  put(data.data(), data.size());
  put(footer, sizeof footer);
  ++records_;
  return offset;
}

void TfRecordWriter::flush() {
  if (out_ != nullptr && std::fflush(out_) != 0) {
    throw Error(path_.string() + ": cannot write (" + errno_text() + ")");
  }
}

void TfRecordWriter::close() {
  if (out_ == nullptr) return;
  const bool flushed = std::fflush(out_) == 0;
  const int flush_errno = errno;
  const bool closed = std::fclose(out_) == 0;
  out_ = nullptr;
  if (!flushed || !closed) {
    throw Error(path_.string() + ": cannot write (" + std::strerror(flushed ? errno : flush_errno) +
                ")");
  }
}

// ---- TfRecordFile ----

TfRecordFile::TfRecordFile(std::filesystem::path path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw FormatError(path_.string() + ": cannot open (" + errno_text() + ")");
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const std::string why = errno_text();
    ::close(fd_);
    throw FormatError(path_.string() + ": cannot stat (" + why + ")");
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

TfRecordFile::~TfRecordFile() {
  if (fd_ >= 0) ::close(fd_);
}

TfRecordFile::TfRecordFile(TfRecordFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      buffer_(std::move(other.buffer_)) {}

TfRecordFile& TfRecordFile::operator=(TfRecordFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

void TfRecordFile::read_exact(std::uint64_t offset, std::size_t size, std::byte* out) const {
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::pread(fd_, out + got, size - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(path_, offset + got, "read error (" + errno_text() + ")");
    }
    if (n == 0) {
      fail(path_, offset + got,
           "file ends here (expected " + std::to_string(size - got) +
               " more bytes: truncated while open?)");
    }
    got += static_cast<std::size_t>(n);
  }
}

std::vector<std::uint64_t> TfRecordFile::scan() const {
  std::vector<std::uint64_t> offsets;
  std::vector<std::byte> window(std::min<std::uint64_t>(kScanWindow, size_));
  std::uint64_t window_begin = 0, window_end = 0;
  std::uint64_t offset = 0;
  while (offset < size_) {
    const std::uint64_t left = size_ - offset;
    if (left < kTfRecordHeaderBytes) {
      fail(path_, offset,
           "record cut: the file ends " + std::to_string(left) +
               " bytes into its 12-byte header (8-byte length, 4-byte length CRC): truncated?");
    }
    if (offset < window_begin || offset + kTfRecordHeaderBytes > window_end) {
      const std::size_t n = std::min<std::uint64_t>(window.size(), left);
      read_exact(offset, n, window.data());
      window_begin = offset;
      window_end = offset + n;
    }
    const std::byte* header = window.data() + (offset - window_begin);
    const std::uint64_t length = get_u64(header);
    const std::uint32_t stored = get_u32(header + 8);
    const std::uint32_t expected = masked_crc(std::span(header, 8));
    if (stored != expected) {
      fail(path_, offset + 8,
           "length CRC mismatch in the record at byte " + std::to_string(offset) + ": stored " +
               hex32(stored) + ", its length bytes give " + hex32(expected) +
               " (masked CRC32C): corrupt, or not a TFRecord file" +
               (offset == 0 ? compression_hint(header, size_) : ""));
    }
    const std::uint64_t data_left = left - kTfRecordHeaderBytes;
    if (length > data_left) {
      fail(path_, offset,
           "record cut: its data is " + std::to_string(length) + " bytes, the file ends after " +
               std::to_string(data_left) + " of them (and the 4-byte data CRC): truncated?");
    }
    if (data_left - length < kTfRecordFooterBytes) {
      fail(path_, offset,
           "record cut: the file ends " + std::to_string(data_left - length) +
               " bytes into its 4-byte data CRC, after " + std::to_string(length) +
               " data bytes: truncated?");
    }
    offsets.push_back(offset);
    offset += kTfRecordHeaderBytes + length + kTfRecordFooterBytes;
  }
  offsets.push_back(size_);
  return offsets;
}

std::span<const std::byte> TfRecordFile::read(std::uint64_t offset, std::uint64_t length) {
  const std::uint64_t total = kTfRecordHeaderBytes + length + kTfRecordFooterBytes;
  if (length > size_ || offset > size_ || total > size_ - offset) {
    fail(path_, offset,
         "a record of " + std::to_string(length) + " data bytes here runs past the file's end (" +
             std::to_string(size_) + " bytes)");
  }
  if (buffer_.size() < total) buffer_.resize(total);
  read_exact(offset, total, buffer_.data());
  const std::byte* header = buffer_.data();
  const std::uint32_t stored_length_crc = get_u32(header + 8);
  const std::uint32_t length_crc = masked_crc(std::span(header, 8));
  if (stored_length_crc != length_crc) {
    fail(path_, offset + 8,
         "length CRC mismatch in the record at byte " + std::to_string(offset) + ": stored " +
             hex32(stored_length_crc) + ", its length bytes give " + hex32(length_crc) +
             " (masked CRC32C): corrupt, or changed since it was opened");
  }
  if (get_u64(header) != length) {
    fail(path_, offset,
         "record length " + std::to_string(get_u64(header)) + ", expected " +
             std::to_string(length) + ": the file changed since it was opened?");
  }
  const std::span<const std::byte> data(header + kTfRecordHeaderBytes, length);
  const std::uint32_t stored = get_u32(header + kTfRecordHeaderBytes + length);
  const std::uint32_t expected = masked_crc(data);
  if (stored != expected) {
    fail(path_, offset,
         "data CRC mismatch: stored " + hex32(stored) + ", the record's " + std::to_string(length) +
             " data bytes give " + hex32(expected) + " (masked CRC32C): corrupt record");
  }
  return data;
}

// ---- Examples ----

std::vector<std::byte> encode_tfrecord_example(const TfRecordSchema& schema, std::uint64_t key,
                                               std::int32_t label,
                                               std::span<const std::byte> payload) {
  tensorflow::Example example;
  auto& features = *example.mutable_features()->mutable_feature();
  features[schema.features].mutable_bytes_list()->add_value(
      reinterpret_cast<const char*>(payload.data()), payload.size());
  features[schema.label].mutable_int64_list()->add_value(label);
  if (!schema.key.empty()) {
    // Keys above 2^63 wrap to negative int64 and back: the bits are what matters.
    features[schema.key].mutable_int64_list()->add_value(static_cast<std::int64_t>(key));
  }
  std::vector<std::byte> out(example.ByteSizeLong());
  google::protobuf::io::ArrayOutputStream array(out.data(), static_cast<int>(out.size()));
  google::protobuf::io::CodedOutputStream coded(&array);
  coded.SetSerializationDeterministic(true);  // map entries sorted by name
  example.SerializeWithCachedSizes(&coded);
  if (coded.HadError()) throw Error("tf.train.Example: serialization failed");
  return out;
}

// ---- TfRecordSet ----

struct TfRecordSet::Index {
  struct File {
    std::filesystem::path path;
    std::vector<std::uint64_t> offsets;  // TfRecordFile::scan()
    std::uint64_t first = 0;             // position of its first record in the set
  };
  std::string name;
  TfRecordSchema schema;
  std::optional<std::int64_t> classes;
  std::vector<File> files;
  std::uint64_t size = 0;
};

namespace {

const char* kind_name(const tensorflow::Feature& feature) {
  switch (feature.kind_case()) {
    case tensorflow::Feature::kBytesList:
      return "bytes_list";
    case tensorflow::Feature::kFloatList:
      return "float_list";
    case tensorflow::Feature::kInt64List:
      return "int64_list";
    case tensorflow::Feature::KIND_NOT_SET:
      break;
  }
  return "a feature with no list";
}

class TfRecordReader final : public RecordReader {
 public:
  explicit TfRecordReader(std::shared_ptr<const TfRecordSet::Index> index)
      : index_(std::move(index)) {}

  RecordRef read(std::uint64_t position) override {
    if (position >= index_->size) {
      throw Error(index_->name + ": record " + std::to_string(position) + " read, the set holds " +
                  std::to_string(index_->size));
    }
    const auto& files = index_->files;
    const auto it = std::upper_bound(files.begin(), files.end(), position,
                                     [](std::uint64_t p, const auto& f) { return p < f.first; });
    const auto file_index = static_cast<std::size_t>(it - files.begin()) - 1;
    const auto& file = files[file_index];
    const std::uint64_t local = position - file.first;
    const std::uint64_t offset = file.offsets[local];
    const std::uint64_t length =
        file.offsets[local + 1] - offset - kTfRecordHeaderBytes - kTfRecordFooterBytes;
    const auto data = open_file(file_index).read(offset, length);
    return decode(data, {file.path, offset, local}, position);
  }

 private:
  struct Where {
    const std::filesystem::path& file;
    std::uint64_t offset;
    std::uint64_t record;  // in its file
  };

  [[noreturn]] static void bad(const Where& at, const std::string& feature,
                               const std::string& what) {
    fail(at.file, at.offset,
         "record " + std::to_string(at.record) + ": feature \"" + feature + "\": " + what);
  }

  TfRecordFile& open_file(std::size_t file_index) {
    auto hit = std::find_if(open_.begin(), open_.end(),
                            [&](const auto& entry) { return entry.first == file_index; });
    if (hit == open_.end()) {
      if (open_.size() == kMaxOpenFiles) open_.pop_back();
      open_.emplace(open_.begin(), file_index, TfRecordFile(index_->files[file_index].path));
    } else if (hit != open_.begin()) {
      std::rotate(open_.begin(), hit, hit + 1);  // most recently used first
    }
    return open_.front().second;
  }

  // The feature's one int64, checked.
  std::int64_t one_int64(const Where& at, const std::string& name) const {
    const auto& map = example_.features().feature();
    const auto found = map.find(name);
    if (found == map.end()) bad(at, name, "missing (expected int64_list of one value)");
    const auto& feature = found->second;
    if (feature.kind_case() != tensorflow::Feature::kInt64List) {
      bad(at, name, std::string(kind_name(feature)) + ", expected int64_list of one value");
    }
    if (feature.int64_list().value_size() != 1) {
      bad(at, name,
          "int64_list of " + std::to_string(feature.int64_list().value_size()) +
              " values, expected one");
    }
    return feature.int64_list().value(0);
  }

  std::span<const std::byte> sample(const Where& at) {
    const auto& schema = index_->schema;
    const auto& name = schema.features;
    const auto& map = example_.features().feature();
    const auto found = map.find(name);
    if (found == map.end()) bad(at, name, "missing (expected bytes_list of one value)");
    const auto& feature = found->second;
    const std::uint64_t bytes = schema.spec.payload_bytes();
    if (feature.kind_case() == tensorflow::Feature::kBytesList) {
      const auto& list = feature.bytes_list();
      if (list.value_size() != 1) {
        bad(at, name,
            "bytes_list of " + std::to_string(list.value_size()) + " values, expected one");
      }
      const std::string& value = list.value(0);
      if (value.size() != bytes) {
        bad(at, name,
            "bytes_list value of " + std::to_string(value.size()) + " bytes, expected " +
                std::to_string(bytes) + " (" + schema.spec.describe() + ")");
      }
      return std::as_bytes(std::span(value.data(), value.size()));
    }
    if (feature.kind_case() == tensorflow::Feature::kFloatList &&
        schema.spec.dtype == shard::SampleDType::f32) {
      const auto& list = feature.float_list();
      if (static_cast<std::uint64_t>(list.value_size()) != schema.spec.numel()) {
        bad(at, name,
            "float_list of " + std::to_string(list.value_size()) + " values, expected " +
                std::to_string(schema.spec.numel()) + " (" + schema.spec.describe() + ")");
      }
      payload_.resize(bytes);
      for (int i = 0; i < list.value_size(); ++i) {
        put_u32(payload_.data() + 4 * static_cast<std::size_t>(i),
                std::bit_cast<std::uint32_t>(list.value(i)));
      }
      return payload_;
    }
    bad(at, name,
        std::string(kind_name(feature)) + ", expected bytes_list of one value" +
            (schema.spec.dtype == shard::SampleDType::f32
                 ? " or float_list"
                 : " (float_list only for f32 samples, these are " + schema.spec.describe() + ")"));
  }

  RecordRef decode(std::span<const std::byte> data, const Where& at, std::uint64_t position) {
    if (data.size() > static_cast<std::size_t>(INT_MAX) ||
        !example_.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      fail(at.file, at.offset,
           "record " + std::to_string(at.record) + ": its " + std::to_string(data.size()) +
               " data bytes are not a tf.train.Example (protobuf parse failed)");
    }
    const auto& schema = index_->schema;
    RecordRef out;
    out.payload = sample(at);
    const std::int64_t label = one_int64(at, schema.label);
    if (index_->classes && (label < 0 || label >= *index_->classes)) {
      bad(at, schema.label,
          "label " + std::to_string(label) + " outside 0.." + std::to_string(*index_->classes - 1) +
              " (metadata classes " + std::to_string(*index_->classes) + ")");
    }
    if (label < INT32_MIN || label > INT32_MAX) {
      bad(at, schema.label, "label " + std::to_string(label) + " does not fit in int32");
    }
    out.label = static_cast<std::int32_t>(label);
    out.key = position;
    if (!schema.key.empty() && example_.features().feature().contains(schema.key)) {
      out.key = static_cast<std::uint64_t>(one_int64(at, schema.key));
    }
    return out;
  }

  std::shared_ptr<const TfRecordSet::Index> index_;
  std::vector<std::pair<std::size_t, TfRecordFile>> open_;  // most recently used first
  tensorflow::Example example_;
  std::vector<std::byte> payload_;  // float_list samples as bytes
};

bool is_tfrecord_name(const std::filesystem::path& file) {
  const std::string name = file.filename().string();
  return !name.empty() && name[0] != '.' && name.find(".tfrecord") != std::string::npos &&
         !name.ends_with(".tmp");
}

}  // namespace

std::shared_ptr<TfRecordSet> TfRecordSet::open(const std::filesystem::path& path,
                                               TfRecordSchema schema) {
  check_spec(schema.spec, path.string());
  if (schema.features.empty() || schema.label.empty() || schema.features == schema.label ||
      schema.features == schema.key || schema.label == schema.key) {
    throw Error(path.string() + ": TFRecord feature names \"" + schema.features + "\", \"" +
                schema.label + "\", \"" + schema.key +
                "\" must be distinct and (but the key) not empty");
  }
  auto index = std::make_shared<Index>();
  if (schema.metadata.is_null()) schema.metadata = nlohmann::json::object();
  if (schema.metadata.contains("classes")) {
    const auto& classes = schema.metadata["classes"];
    if (!classes.is_number_integer() || classes.get<std::int64_t>() <= 0) {
      throw Error(path.string() + ": metadata \"classes\" is " + classes.dump() +
                  ", expected a positive integer");
    }
    index->classes = classes.get<std::int64_t>();
  }

  std::error_code ec;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(path, ec)) {
    try {
      for (const auto& entry : std::filesystem::directory_iterator(path)) {
        if (entry.is_regular_file() && is_tfrecord_name(entry.path())) {
          files.push_back(entry.path());
        }
      }
    } catch (const std::filesystem::filesystem_error& e) {
      throw FormatError(path.string() + ": cannot list the folder (" + e.code().message() + ")");
    }
    if (files.empty()) throw FormatError(path.string() + ": holds no .tfrecord files");
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);  // opening it names the problem when it is missing
  }
  for (const auto& file : files) {
    Index::File entry{file, TfRecordFile(file).scan(), index->size};
    index->size += entry.offsets.size() - 1;
    index->files.push_back(std::move(entry));
  }
  const auto normal = path.lexically_normal();
  index->name = (normal.has_filename() ? normal : normal.parent_path()).filename().string();
  index->schema = std::move(schema);
  return std::shared_ptr<TfRecordSet>(new TfRecordSet(std::move(index)));
}

std::string TfRecordSet::name() const {
  return index_->name;
}
SampleSpec TfRecordSet::spec() const {
  return index_->schema.spec;
}
nlohmann::json TfRecordSet::metadata() const {
  return index_->schema.metadata;
}
std::uint64_t TfRecordSet::size() const {
  return index_->size;
}

std::unique_ptr<RecordReader> TfRecordSet::open_reader() const {
  return std::make_unique<TfRecordReader>(index_);
}

std::vector<std::filesystem::path> TfRecordSet::files() const {
  std::vector<std::filesystem::path> out;
  for (const auto& file : index_->files) out.push_back(file.path);
  return out;
}

// ---- write_tfrecord ----

std::uint64_t write_tfrecord(const std::filesystem::path& path, shard::RecordSource& source,
                             const TfRecordSchema& schema) {
  const SampleSpec spec = source.spec();
  if (!schema.spec.shape.empty() && schema.spec != spec) {
    throw Error(source.name() + ": samples are " + spec.describe() + ", the schema says " +
                schema.spec.describe());
  }
  check_spec(spec, source.name());
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) throw Error(path.parent_path().string() + ": cannot create (" + ec.message() + ")");

  std::filesystem::path temporary = path;
  temporary += ".tmp";
  std::uint64_t count = 0;
  try {
    TfRecordWriter writer(temporary);
    shard::SourceRecord record;
    while (source.next(record)) {
      if (record.payload.size() != spec.payload_bytes()) {
        throw Error(source.name() + ": record " + std::to_string(count) + " (key " +
                    std::to_string(record.key) + ") has " + std::to_string(record.payload.size()) +
                    " payload bytes, expected " + std::to_string(spec.payload_bytes()) + " (" +
                    spec.describe() + ")");
      }
      writer.write(encode_tfrecord_example(schema, record.key, record.label, record.payload));
      ++count;
    }
    writer.close();
    std::filesystem::rename(temporary, path, ec);
    if (ec) throw Error(path.string() + ": cannot rename from .tmp (" + ec.message() + ")");
  } catch (...) {
    std::filesystem::remove(temporary, ec);
    throw;
  }
  return count;
}

}  // namespace tb::data
