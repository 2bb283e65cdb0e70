#include "core/data/formats/hdf5.h"

#include <hdf5.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>
#include <vector>

#include "core/data/formats/array_support.h"
#include "core/util/error.h"

namespace tb::data {

static_assert(std::endian::native == std::endian::little,
              "payloads are little-endian; HDF5 native types are read straight into them");

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

namespace {

using detail::fail;
using shard::SampleDType;

constexpr const char* kMetadataAttribute = "trainbench.metadata";
// Six sample dimensions at most, as a shard header stores, plus the sample count.
constexpr int kMaxDatasetRank = static_cast<int>(shard::kMaxRank) + 1;

// Owns an HDF5 id. Created, used and destroyed with hdf5_mutex() held.
class Id {
 public:
  Id() = default;
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Id(Id&& other) noexcept { *this = std::move(other); }
  Id& operator=(Id&& other) noexcept {
    reset();
    id_ = std::exchange(other.id_, H5I_INVALID_HID);
    close_ = other.close_;
    return *this;
  }
  ~Id() { reset(); }
  void reset() {
    if (id_ >= 0) close_(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

// The library prints its error stack to stderr by default; our messages carry it instead. The
// setting is per thread in thread-safe builds, so each thread turns it off on its first call.
void quiet_errors() {
  thread_local bool done = false;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

// What HDF5 says went wrong, innermost cause first ("truncated file: eof = 96, ..."); clears the
// error stack.
std::string hdf5_error() {
  std::vector<std::string> messages;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        auto& out = *static_cast<std::vector<std::string>*>(data);
        if (e->desc && *e->desc && out.size() < 3) out.emplace_back(e->desc);
        return 0;
      },
      &messages);
  H5Eclear2(H5E_DEFAULT);
  std::string text;
  for (const auto& m : messages) text += (text.empty() ? "" : "; ") + m;
  return text.empty() ? "HDF5 gives no reason" : text;
}

std::string quoted(const std::string& name) {
  return "dataset '" + name + "'";
}

// A 2-byte IEEE-style float type: half (5 exponent bits, as h5py stores numpy float16) or
// bfloat16 (8 exponent bits), little-endian.
Id small_float_type(bool bfloat) {
  Id type(H5Tcopy(H5T_IEEE_F32LE), H5Tclose);
  if (bfloat) {
    H5Tset_fields(type.get(), 15, 7, 8, 0, 7);
    H5Tset_size(type.get(), 2);
    H5Tset_ebias(type.get(), 127);
  } else {
    H5Tset_fields(type.get(), 15, 10, 5, 0, 10);
    H5Tset_size(type.get(), 2);
    H5Tset_ebias(type.get(), 15);
  }
  return type;
}

// The in-memory (and, for write_hdf5, on-disk) type of a payload element.
Id payload_type(SampleDType dtype) {
  switch (dtype) {
    case SampleDType::u8:
      return Id(H5Tcopy(H5T_STD_U8LE), H5Tclose);
    case SampleDType::i8:
      return Id(H5Tcopy(H5T_STD_I8LE), H5Tclose);
    case SampleDType::i32:
      return Id(H5Tcopy(H5T_STD_I32LE), H5Tclose);
    case SampleDType::f32:
      return Id(H5Tcopy(H5T_IEEE_F32LE), H5Tclose);
    case SampleDType::f16:
      return small_float_type(false);
    case SampleDType::bf16:
      return small_float_type(true);
  }
  return {};
}

std::string describe_type(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const std::string bytes = std::to_string(H5Tget_size(type)) + "-byte ";
  switch (cls) {
    case H5T_INTEGER:
      return bytes + (H5Tget_sign(type) == H5T_SGN_NONE ? "unsigned integer" : "signed integer");
    case H5T_FLOAT:
      return bytes + "float";
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    default:
      return "type class " + std::to_string(static_cast<int>(cls));
  }
}

// The SampleDType a samples dataset of `type` is read as, or false.
bool sample_dtype(hid_t type, SampleDType& out) {
  const std::size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER: {
      const bool is_signed = H5Tget_sign(type) != H5T_SGN_NONE;
      if (size == 1) {
        out = is_signed ? SampleDType::i8 : SampleDType::u8;
        return true;
      }
      if (size == 2 || (size == 4 && is_signed)) {
        out = SampleDType::i32;
        return true;
      }
      return false;
    }
    case H5T_FLOAT: {
      if (size == 4 || size == 8) {
        out = SampleDType::f32;
        return true;
      }
      if (size != 2) return false;
      std::size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
      if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0) return false;
      if (spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10) {
        out = SampleDType::f16;
        return true;
      }
      if (spos == 15 && epos == 7 && esize == 8 && mpos == 0 && msize == 7) {
        out = SampleDType::bf16;
        return true;
      }
      return false;
    }
    default:
      return false;
  }
}

// The names at the file's root, to say what a missing dataset could have been.
std::string root_names(hid_t file) {
  std::vector<std::string> names;
  H5Literate(
      file, H5_INDEX_NAME, H5_ITER_NATIVE, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(name);
        return 0;
      },
      &names);
  H5Eclear2(H5E_DEFAULT);
  std::string text;
  for (const auto& n : names) text += (text.empty() ? "'" : ", '") + n + "'";
  return text.empty() ? "nothing" : text;
}

Id open_file(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw FormatError(path.string() + ": no such file");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    fail(path, "at byte 0",
         "no HDF5 signature (expected \\x89HDF\\r\\n\\x1a\\n at 0, 512, 1024, ...)");
  }
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) fail(path, "HDF5 file", "cannot be opened: " + hdf5_error());
  return file;
}

Id open_dataset(hid_t file, const std::filesystem::path& path, const std::string& name) {
  // H5Lexists fails (rather than answering no) when a parent group is missing.
  const htri_t exists = H5Lexists(file, name.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  if (exists <= 0) {
    fail(path, quoted(name), "no such dataset (the file's root holds " + root_names(file) + ")");
  }
  Id dataset(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset.valid()) fail(path, quoted(name), "is not a dataset: " + hdf5_error());
  return dataset;
}

std::vector<hsize_t> dataset_dims(hid_t dataset, const std::filesystem::path& path,
                                  const std::string& name) {
  Id space(H5Dget_space(dataset), H5Sclose);
  const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (rank < 0) fail(path, quoted(name), "cannot read its shape: " + hdf5_error());
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

std::string shape_text(const std::vector<hsize_t>& dims) {
  std::string text = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

// A rank-1 integer dataset of `count` entries, read whole as i64 (HDF5 converts).
std::vector<std::int64_t> read_integers(hid_t file, const std::filesystem::path& path,
                                        const std::string& name, std::uint64_t count,
                                        const std::string& role, bool& is_unsigned64) {
  Id dataset = open_dataset(file, path, name);
  Id type(H5Dget_type(dataset.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER) {
    fail(path, quoted(name),
         role + " have type " + describe_type(type.get()) + ", expected integers");
  }
  is_unsigned64 = H5Tget_sign(type.get()) == H5T_SGN_NONE && H5Tget_size(type.get()) == 8;
  const auto dims = dataset_dims(dataset.get(), path, name);
  if (dims.size() != 1 || dims[0] != count) {
    fail(path, quoted(name),
         role + " have shape " + shape_text(dims) + ", expected [" + std::to_string(count) +
             "] (one per sample)");
  }
  std::vector<std::int64_t> values(count);
  const hid_t memory = is_unsigned64 ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64;
  if (count > 0 &&
      H5Dread(dataset.get(), memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0) {
    fail(path, quoted(name), "cannot read the " + role + ": " + hdf5_error());
  }
  return values;
}

// The dataset's "trainbench.metadata" string attribute as JSON, or null when there is none.
nlohmann::json read_metadata(hid_t dataset, const std::filesystem::path& path,
                             const std::string& name) {
  const std::string where = quoted(name) + ", attribute '" + kMetadataAttribute + "'";
  if (H5Aexists(dataset, kMetadataAttribute) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return nullptr;
  }
  Id attribute(H5Aopen(dataset, kMetadataAttribute, H5P_DEFAULT), H5Aclose);
  Id type(attribute.valid() ? H5Aget_type(attribute.get()) : H5I_INVALID_HID, H5Tclose);
  if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING) {
    fail(path, where, "is not a string (expected JSON text)");
  }
  std::string text;
  Id memory(H5Tcopy(H5T_C_S1), H5Tclose);
  if (H5Tis_variable_str(type.get()) > 0) {
    H5Tset_size(memory.get(), H5T_VARIABLE);
    char* value = nullptr;
    if (H5Aread(attribute.get(), memory.get(), &value) < 0) {
      fail(path, where, "cannot be read: " + hdf5_error());
    }
    if (value) text = value;
    H5free_memory(value);
  } else {
    const std::size_t size = H5Tget_size(type.get());
    H5Tset_size(memory.get(), size + 1);  // room for the terminator HDF5 adds
    std::vector<char> value(size + 1, '\0');
    if (H5Aread(attribute.get(), memory.get(), value.data()) < 0) {
      fail(path, where, "cannot be read: " + hdf5_error());
    }
    text = value.data();
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(path, where, std::string("is not JSON: ") + e.what());
  }
}

}  // namespace

struct Hdf5RecordSet::State {
  std::filesystem::path file;
  Hdf5Names names;
  SampleSpec spec;
  std::vector<hsize_t> dims;  // of the samples dataset
  std::uint64_t count = 0;
  std::vector<std::int32_t> labels;
  std::vector<std::uint64_t> keys;  // empty: keys are positions
  nlohmann::json metadata;
};

namespace {

class Hdf5Reader final : public RecordReader {
 public:
  explicit Hdf5Reader(std::shared_ptr<const Hdf5RecordSet::State> state)
      : state_(std::move(state)) {
    const auto& s = *state_;
    std::lock_guard lock(hdf5_mutex());
    quiet_errors();
    // A throwing constructor destroys the members after `lock`: close them while it is held.
    try {
      file_ = open_file(s.file);
      dataset_ = open_dataset(file_.get(), s.file, s.names.samples);
      if (dataset_dims(dataset_.get(), s.file, s.names.samples) != s.dims) {
        fail(s.file, quoted(s.names.samples), "changed shape since the set was opened");
      }
      file_space_ = Id(H5Dget_space(dataset_.get()), H5Sclose);
      const std::vector<hsize_t> sample(s.dims.begin() + 1, s.dims.end());
      memory_space_ =
          Id(H5Screate_simple(static_cast<int>(sample.size()), sample.data(), nullptr), H5Sclose);
      memory_type_ = payload_type(s.spec.dtype);
      start_.assign(s.dims.size(), 0);
      block_ = s.dims;
      block_[0] = 1;
    } catch (...) {
      close();
      throw;
    }
    buffer_.resize(s.spec.payload_bytes());
  }

  ~Hdf5Reader() override {
    std::lock_guard lock(hdf5_mutex());
    close();
  }

  RecordRef read(std::uint64_t position) override {
    const auto& s = *state_;
    const std::string where = quoted(s.names.samples) + ", row " + std::to_string(position);
    if (position >= s.count) {
      fail(s.file, where, "outside the set's " + std::to_string(s.count) + " samples");
    }
    {
      std::lock_guard lock(hdf5_mutex());
      quiet_errors();
      start_[0] = position;
      if (H5Sselect_hyperslab(file_space_.get(), H5S_SELECT_SET, start_.data(), nullptr,
                              block_.data(), nullptr) < 0 ||
          H5Dread(dataset_.get(), memory_type_.get(), memory_space_.get(), file_space_.get(),
                  H5P_DEFAULT, buffer_.data()) < 0) {
        fail(s.file, where, "cannot read the sample: " + hdf5_error());
      }
    }
    RecordRef ref;
    ref.key = s.keys.empty() ? position : s.keys[position];
    ref.label = s.labels[position];
    ref.payload = buffer_;
    return ref;
  }

 private:
  // With hdf5_mutex() held.
  void close() {
    memory_type_.reset();
    memory_space_.reset();
    file_space_.reset();
    dataset_.reset();
    file_.reset();
  }

  std::shared_ptr<const Hdf5RecordSet::State> state_;
  Id file_, dataset_, file_space_, memory_space_, memory_type_;
  std::vector<hsize_t> start_, block_;
  std::vector<std::byte> buffer_;
};

}  // namespace

Hdf5RecordSet::Hdf5RecordSet(const std::filesystem::path& file, Hdf5Options options) {
  auto state = std::make_shared<State>();
  state->file = file;
  state->names = std::move(options.names);
  const Hdf5Names& names = state->names;
  nlohmann::json stored;
  std::int32_t max_label = -1;
  {
    std::lock_guard lock(hdf5_mutex());
    quiet_errors();
    Id handle = open_file(file);
    Id samples = open_dataset(handle.get(), file, names.samples);
    Id type(H5Dget_type(samples.get()), H5Tclose);
    if (!sample_dtype(type.get(), state->spec.dtype)) {
      fail(file, quoted(names.samples),
           "samples have type " + describe_type(type.get()) +
               ", expected uint8, int8, int16, uint16, int32, float16, bfloat16, float32 or "
               "float64");
    }
    state->dims = dataset_dims(samples.get(), file, names.samples);
    const auto& dims = state->dims;
    if (dims.size() < 2 || dims.size() > static_cast<std::size_t>(kMaxDatasetRank)) {
      fail(file, quoted(names.samples),
           "samples have shape " + shape_text(dims) +
               ", expected [count, d1, ...] with 1 to 6 sample dimensions");
    }
    for (std::size_t i = 1; i < dims.size(); ++i) {
      if (dims[i] == 0 || dims[i] > UINT32_MAX) {
        fail(file, quoted(names.samples),
             "samples have shape " + shape_text(dims) + ", expected sample dimensions 1 .. 2^32-1");
      }
      state->spec.shape.push_back(static_cast<std::uint32_t>(dims[i]));
    }
    state->count = dims[0];
    bool unsigned64 = false;
    const auto labels =
        read_integers(handle.get(), file, names.labels, state->count, "labels", unsigned64);
    max_label = detail::check_labels(labels, state->labels, file, quoted(names.labels));
    if (!names.keys.empty()) {
      const auto keys =
          read_integers(handle.get(), file, names.keys, state->count, "keys", unsigned64);
      state->keys.resize(keys.size());
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (!unsigned64 && keys[i] < 0) {
          fail(file, quoted(names.keys) + ", row " + std::to_string(i),
               "key " + std::to_string(keys[i]) + " is negative (expected 0 .. 2^64-1)");
        }
        state->keys[i] = static_cast<std::uint64_t>(keys[i]);
      }
    }
    stored = read_metadata(samples.get(), file, names.samples);
  }
  if (!state->keys.empty()) detail::check_unique_keys(state->keys, file, quoted(names.keys));
  state->metadata = detail::build_metadata(file.filename().string(), state->spec.dtype, max_label,
                                           stored, options.metadata, file);
  state_ = std::move(state);
}

Hdf5RecordSet::~Hdf5RecordSet() = default;

std::string Hdf5RecordSet::name() const {
  return state_->file.filename().string();
}
SampleSpec Hdf5RecordSet::spec() const {
  return state_->spec;
}
nlohmann::json Hdf5RecordSet::metadata() const {
  return state_->metadata;
}
std::uint64_t Hdf5RecordSet::size() const {
  return state_->count;
}
std::unique_ptr<RecordReader> Hdf5RecordSet::open_reader() const {
  return std::make_unique<Hdf5Reader>(state_);
}

std::uint64_t write_hdf5(const std::filesystem::path& path, shard::RecordSource& source,
                         const Hdf5Names& names, int deflate_level) {
  if (names.samples.empty() || names.labels.empty()) {
    throw Error(path.string() + ": write_hdf5 needs samples and labels dataset names");
  }
  if (deflate_level < 0 || deflate_level > 9) {
    throw Error(path.string() + ": deflate level " + std::to_string(deflate_level) +
                " (expected 0 .. 9)");
  }
  const SampleSpec spec = source.spec();
  const std::uint64_t count = source.size();
  const std::size_t sample_bytes = spec.payload_bytes();
  detail::TempOutput output(path);
  const std::string temp = output.temp().string();
  auto check = [&](bool ok, const std::string& what) {
    if (!ok) throw Error(path.string() + ": cannot write " + what + ": " + hdf5_error());
  };
  {
    std::lock_guard lock(hdf5_mutex());
    quiet_errors();
    Id file(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    check(file.valid(), "the file");
    Id links(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(links.get(), 1);

    std::vector<hsize_t> dims{count};
    dims.insert(dims.end(), spec.shape.begin(), spec.shape.end());
    Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
    Id create(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    if (deflate_level > 0 && count > 0) {
      std::vector<hsize_t> chunk = dims;
      chunk[0] = std::clamp<hsize_t>((1u << 20) / std::max<std::size_t>(sample_bytes, 1), 1, count);
      H5Pset_chunk(create.get(), static_cast<int>(chunk.size()), chunk.data());
      H5Pset_deflate(create.get(), static_cast<unsigned>(deflate_level));
    }
    Id type = payload_type(spec.dtype);
    Id samples(H5Dcreate2(file.get(), names.samples.c_str(), type.get(), space.get(), links.get(),
                          create.get(), H5P_DEFAULT),
               H5Dclose);
    check(samples.valid(), quoted(names.samples));

    // Records go out in blocks of about 4 MiB: one hyperslab write per record is slow.
    const std::uint64_t block_rows =
        std::max<std::uint64_t>(1, (4u << 20) / std::max<std::size_t>(sample_bytes, 1));
    std::vector<std::byte> block;
    std::vector<std::int32_t> labels;
    std::vector<std::uint64_t> keys;
    labels.reserve(count);
    keys.reserve(count);
    std::uint64_t written = 0;
    auto flush = [&] {
      const std::uint64_t rows = block.size() / std::max<std::size_t>(sample_bytes, 1);
      if (rows == 0) return;
      std::vector<hsize_t> start(dims.size(), 0), extent = dims;
      start[0] = written;
      extent[0] = rows;
      Id memory(H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr),
                H5Sclose);
      check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(),
                                nullptr) >= 0 &&
                H5Dwrite(samples.get(), type.get(), memory.get(), space.get(), H5P_DEFAULT,
                         block.data()) >= 0,
            quoted(names.samples) + " rows " + std::to_string(written) + "..");
      written += rows;
      block.clear();
    };
    shard::SourceRecord record;
    while (source.next(record)) {
      const std::uint64_t index = labels.size();
      if (index == count) {
        throw Error(source.name() + ": gives more records than its size() " +
                    std::to_string(count));
      }
      detail::check_payload(record.payload, spec, source.name(), index);
      block.insert(block.end(), record.payload.begin(), record.payload.end());
      labels.push_back(record.label);
      keys.push_back(record.key);
      if (block.size() >= block_rows * sample_bytes) flush();
    }
    flush();
    if (labels.size() != count) {
      throw Error(source.name() + ": gave " + std::to_string(labels.size()) +
                  " records, its size() says " + std::to_string(count));
    }

    auto write_vector = [&](const std::string& name, hid_t file_type, hid_t memory_type,
                            const void* data) {
      const hsize_t n = count;
      Id vector_space(H5Screate_simple(1, &n, nullptr), H5Sclose);
      Id dataset(H5Dcreate2(file.get(), name.c_str(), file_type, vector_space.get(), links.get(),
                            H5P_DEFAULT, H5P_DEFAULT),
                 H5Dclose);
      check(dataset.valid() && (count == 0 || H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL,
                                                       H5P_DEFAULT, data) >= 0),
            quoted(name));
    };
    write_vector(names.labels, H5T_STD_I32LE, H5T_NATIVE_INT32, labels.data());
    if (!names.keys.empty()) {
      write_vector(names.keys, H5T_STD_U64LE, H5T_NATIVE_UINT64, keys.data());
    }

    const std::string text = source.metadata().dump();
    Id text_type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(text_type.get(), std::max<std::size_t>(text.size(), 1));
    Id scalar(H5Screate(H5S_SCALAR), H5Sclose);
    Id attribute(H5Acreate2(samples.get(), kMetadataAttribute, text_type.get(), scalar.get(),
                            H5P_DEFAULT, H5P_DEFAULT),
                 H5Aclose);
    check(attribute.valid() && H5Awrite(attribute.get(), text_type.get(), text.c_str()) >= 0,
          std::string("attribute ") + kMetadataAttribute);
    attribute.reset();
    samples.reset();
    check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL) >= 0, "the file");
  }
  output.commit();
  return count;
}

}  // namespace tb::data
