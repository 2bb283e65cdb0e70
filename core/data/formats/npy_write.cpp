// The NPY/NPZ writers (see npy.h): arrays streamed to .npy files, zipped for an .npz.
#include <zip.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>

#include "core/data/formats/array_support.h"
#include "core/data/formats/npy.h"
#include "core/util/error.h"

namespace tb::data {
namespace {

using shard::SampleDType;

// Must match what NpyRecordSet::open_npz looks for.
constexpr const char* kMetadataMember = "metadata.json";

struct ZipDiscard {
  void operator()(zip_t* z) const { zip_discard(z); }
};

std::string npy_descr(SampleDType dtype, const std::string& source) {
  switch (dtype) {
    case SampleDType::u8:
      return "|u1";
    case SampleDType::i8:
      return "|i1";
    case SampleDType::i32:
      return "<i4";
    case SampleDType::f16:
      return "<f2";
    case SampleDType::f32:
      return "<f4";
    case SampleDType::bf16:
      break;
  }
  throw Error(source + ": bf16 samples have no NumPy dtype (convert them to f32 first)");
}

class NpyOut {
 public:
  NpyOut(const std::filesystem::path& path, const std::string& descr,
         const std::vector<std::uint64_t>& shape)
      : path_(path), out_(path, std::ios::binary | std::ios::trunc) {
    const std::string header = npy_header(descr, shape);
    write(header.data(), header.size());
  }
  void write(const void* data, std::size_t n) {
    out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
    if (!out_) throw Error(path_.string() + ": cannot write: " + std::strerror(errno));
  }
  void close() {
    out_.close();
    if (!out_) throw Error(path_.string() + ": cannot write: " + std::strerror(errno));
  }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

// Streams the source's arrays into the given files (keys only when `keys` is not empty).
std::uint64_t write_arrays(shard::RecordSource& source, const std::filesystem::path& samples,
                           const std::filesystem::path& labels, const std::filesystem::path& keys) {
  const SampleSpec spec = source.spec();
  const std::uint64_t count = source.size();
  std::vector<std::uint64_t> shape{count};
  shape.insert(shape.end(), spec.shape.begin(), spec.shape.end());
  NpyOut out(samples, npy_descr(spec.dtype, source.name()), shape);
  std::vector<std::int32_t> label_values;
  std::vector<std::uint64_t> key_values;
  label_values.reserve(count);
  key_values.reserve(count);
  shard::SourceRecord record;
  while (source.next(record)) {
    if (label_values.size() == count) {
      throw Error(source.name() + ": gives more records than its size() " + std::to_string(count));
    }
    detail::check_payload(record.payload, spec, source.name(), label_values.size());
    out.write(record.payload.data(), record.payload.size());
    label_values.push_back(record.label);
    key_values.push_back(record.key);
  }
  if (label_values.size() != count) {
    throw Error(source.name() + ": gave " + std::to_string(label_values.size()) +
                " records, its size() says " + std::to_string(count));
  }
  out.close();
  NpyOut label_out(labels, "<i4", {count});
  label_out.write(label_values.data(), label_values.size() * sizeof(std::int32_t));
  label_out.close();
  if (!keys.empty()) {
    NpyOut key_out(keys, "<u8", {count});
    key_out.write(key_values.data(), key_values.size() * sizeof(std::uint64_t));
    key_out.close();
  }
  return count;
}

}  // namespace

std::uint64_t write_npy(const std::filesystem::path& samples_path,
                        const std::filesystem::path& labels_path, shard::RecordSource& source,
                        const std::filesystem::path& keys_path) {
  detail::TempOutput samples(samples_path), labels(labels_path);
  std::optional<detail::TempOutput> keys;
  if (!keys_path.empty()) keys.emplace(keys_path);
  const std::uint64_t count =
      write_arrays(source, samples.temp(), labels.temp(), keys ? keys->temp() : "");
  samples.commit();
  labels.commit();
  if (keys) keys->commit();
  return count;
}

std::uint64_t write_npz(const std::filesystem::path& path, shard::RecordSource& source,
                        const NpzWriteOptions& options) {
  const NpzNames& names = options.names;
  if (names.samples.empty() || names.labels.empty()) {
    throw Error(path.string() + ": write_npz needs samples and labels member names");
  }
  // The members are written as files beside the archive, zipped, then removed.
  detail::TempOutput archive(path);
  detail::TempOutput samples(path.string() + ".samples"), labels(path.string() + ".labels"),
      keys(path.string() + ".keys");
  const std::uint64_t count =
      write_arrays(source, samples.temp(), labels.temp(), names.keys.empty() ? "" : keys.temp());
  const std::string metadata = source.metadata().dump();

  int code = 0;
  zip_t* zip = zip_open(archive.temp().c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  if (!zip)
    throw Error(path.string() + ": cannot create the archive (libzip error " +
                std::to_string(code) + ")");
  std::unique_ptr<zip_t, ZipDiscard> owner(zip);
  auto fail = [&](const std::string& what) {
    throw Error(path.string() + ": cannot write " + what + ": " + zip_strerror(zip));
  };
  auto add = [&](const std::string& member, zip_source_t* data) {
    if (!data) fail("member '" + member + "'");
    const zip_int64_t index = zip_file_add(zip, member.c_str(), data, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(data);
      fail("member '" + member + "'");
    }
    if (zip_set_file_compression(zip, static_cast<zip_uint64_t>(index),
                                 options.compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0) {
      fail("member '" + member + "'");
    }
  };
  auto add_file = [&](const std::string& name, const std::filesystem::path& file) {
    const auto size = static_cast<zip_int64_t>(std::filesystem::file_size(file));
    add(name + ".npy", zip_source_file(zip, file.c_str(), 0, size));
  };
  add_file(names.samples, samples.temp());
  add_file(names.labels, labels.temp());
  if (!names.keys.empty()) add_file(names.keys, keys.temp());
  add(kMetadataMember, zip_source_buffer(zip, metadata.data(), metadata.size(), 0));
  if (zip_close(zip) != 0) fail("the archive");
  (void)owner.release();  // zip_close freed it
  archive.commit();
  return count;
}

}  // namespace tb::data
