#include "core/data/formats/splits.h"

#include <zlib.h>

#include <algorithm>
#include <fstream>

#include "core/data/formats/csv.h"
#include "core/data/formats/fashion_mnist.h"
#include "core/data/formats/hdf5.h"
#include "core/data/formats/lmdb.h"
#include "core/data/formats/npy.h"
#include "core/data/formats/shards.h"
#include "core/data/formats/tfrecord.h"
#include "core/data/pipeline/sample_decoder.h"
#include "core/util/error.h"

namespace tb::data {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// The string at options[key], or `fallback`; throws naming data.options.KEY otherwise.
std::string option_text(const json& options, const char* key, const std::string& fallback) {
  if (!options.contains(key)) return fallback;
  if (!options[key].is_string()) {
    throw Error(std::string("data.options.") + key + ": expected a string, got " +
                options[key].dump());
  }
  return options[key].get<std::string>();
}

json option_metadata(const json& options) {
  if (!options.contains("metadata")) return json::object();
  if (!options["metadata"].is_object()) {
    throw Error("data.options.metadata: expected an object, got " + options["metadata"].dump());
  }
  return options["metadata"];
}

void check_keys(const json& options, const std::string& format,
                std::initializer_list<const char*> known) {
  if (!options.is_object()) throw Error("data.options: expected an object, got " + options.dump());
  for (const auto& [key, value] : options.items()) {
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) {
      throw Error("data.options." + key + ": unknown key for " + format);
    }
  }
}

shard::SampleDType dtype_named(const std::string& name, const std::string& where) {
  for (auto dtype : {shard::SampleDType::u8, shard::SampleDType::i8, shard::SampleDType::i32,
                     shard::SampleDType::f32, shard::SampleDType::f16, shard::SampleDType::bf16}) {
    if (name == shard::dtype_name(dtype)) return dtype;
  }
  throw Error(where + ": unknown sample dtype \"" + name + "\" (u8, i8, i32, f32, f16, bf16)");
}

// "sample": {"dtype", "shape"} and "metadata", from options or else DIR/dataset.json.
TfRecordSchema tfrecord_schema(const fs::path& dir, const json& options) {
  check_keys(options, "tfrecord", {"features", "label", "key", "sample", "metadata"});
  json described = options;
  const fs::path sidecar = dir / "dataset.json";
  if (!options.contains("sample") && fs::exists(sidecar)) {
    std::ifstream in(sidecar);
    described = json::parse(in, nullptr, false);
    if (!described.is_object() || !described.contains("sample")) {
      throw FormatError(sidecar.string() + ": expected a JSON object with \"sample\"");
    }
  }
  const std::string where =
      options.contains("sample") ? std::string("data.options.sample") : sidecar.string();
  if (!described.contains("sample") || !described["sample"].is_object()) {
    throw Error(dir.string() +
                ": TFRecord files do not say what their samples are: give "
                "data.options.sample {\"dtype\", \"shape\"} or write " +
                sidecar.string());
  }
  const json& sample = described["sample"];
  TfRecordSchema schema;
  schema.features = option_text(options, "features", schema.features);
  schema.label = option_text(options, "label", schema.label);
  schema.key = option_text(options, "key", schema.key);
  if (!sample.contains("dtype") || !sample["dtype"].is_string() || !sample.contains("shape") ||
      !sample["shape"].is_array() || sample["shape"].empty()) {
    throw Error(where + ": expected {\"dtype\": \"u8\", \"shape\": [1, 28, 28]}");
  }
  schema.spec.dtype = dtype_named(sample["dtype"].get<std::string>(), where);
  for (const auto& d : sample["shape"]) {
    if (!d.is_number_unsigned() || d.get<std::uint64_t>() == 0 ||
        d.get<std::uint64_t>() > 0xFFFFFFFFu) {
      throw Error(where + ".shape: expected positive integers, got " + sample["shape"].dump());
    }
    schema.spec.shape.push_back(d.get<std::uint32_t>());
  }
  schema.metadata = described.contains("metadata") ? described["metadata"] : json::object();
  return schema;
}

// DIR/NAME or, when that does not exist, DIR/NAME.EXTENSION.
fs::path file_or(const fs::path& dir, const std::string& name, const std::string& extension) {
  const fs::path bare = dir / name;
  return fs::exists(bare) ? bare : dir / (name + extension);
}

}  // namespace

const std::vector<std::string>& dataset_formats() {
  static const std::vector<std::string> formats = {"fashion-mnist", "shards", "tfrecord", "hdf5",
                                                   "npy",           "lmdb",   "csv"};
  return formats;
}

bool is_dataset_format(const std::string& name) {
  const auto& formats = dataset_formats();
  return std::find(formats.begin(), formats.end(), name) != formats.end();
}

std::shared_ptr<const RecordSet> open_split(const std::string& format, const fs::path& dir,
                                            bool train, const json& options) {
  const std::string split = train ? "train" : "test";
  if (format == "fashion-mnist") {
    check_keys(options, format, {});
    return fashion_mnist_record_set(dir, train ? "train" : "t10k");
  }
  if (format == "shards") {
    check_keys(options, format, {});
    return open_shard_record_set(dir / split);
  }
  if (format == "tfrecord") {
    return TfRecordSet::open(file_or(dir, split, ".tfrecord"), tfrecord_schema(dir, options));
  }
  if (format == "hdf5") {
    check_keys(options, format, {"samples", "labels", "keys", "metadata"});
    Hdf5Options h;
    h.names.samples = option_text(options, "samples", h.names.samples);
    h.names.labels = option_text(options, "labels", h.names.labels);
    h.names.keys = option_text(options, "keys", h.names.keys);
    h.metadata = option_metadata(options);
    return std::make_shared<Hdf5RecordSet>(file_or(dir, split, ".h5"), h);
  }
  if (format == "npy") {
    check_keys(options, format, {"samples", "labels", "keys", "metadata"});
    NpzNames names;
    names.samples = option_text(options, "samples", names.samples);
    names.labels = option_text(options, "labels", names.labels);
    names.keys = option_text(options, "keys", names.keys);
    return NpyRecordSet::open_npz(file_or(dir, split, ".npz"), names, option_metadata(options));
  }
  if (format == "lmdb") {
    check_keys(options, format, {});
    return open_lmdb(dir / split);
  }
  if (format == "csv") {
    check_keys(options, format, {"label_column", "key_column", "metadata"});
    CsvOptions c;
    c.label_column = option_text(options, "label_column", c.label_column);
    c.key_column = option_text(options, "key_column", c.key_column);
    c.metadata = option_metadata(options);
    return std::make_shared<CsvRecordSet>(file_or(dir, split, ".csv"), c);
  }
  throw Error("unknown dataset format \"" + format + "\"");
}

std::uint64_t write_split(const std::string& format, const fs::path& dir, bool train,
                          shard::RecordSource& source) {
  const std::string split = train ? "train" : "test";
  fs::create_directories(dir);
  if (format == "tfrecord") {
    TfRecordSchema schema;
    schema.spec = source.spec();
    const json sidecar = {
        {"sample", {{"dtype", shard::dtype_name(schema.spec.dtype)}, {"shape", schema.spec.shape}}},
        {"metadata", source.metadata()}};
    std::ofstream out(dir / "dataset.json");
    out << sidecar.dump(2) << "\n";
    if (!out) throw Error((dir / "dataset.json").string() + ": cannot write");
    return write_tfrecord(dir / (split + ".tfrecord"), source, schema);
  }
  if (format == "hdf5") return write_hdf5(dir / (split + ".h5"), source);
  if (format == "npy") return write_npz(dir / (split + ".npz"), source);
  if (format == "lmdb") return write_lmdb(dir / split, source);
  throw Error("no writer for dataset format \"" + format +
              "\" (write shards, tfrecord, hdf5, npy or lmdb)");
}

InMemoryDataset load_into_memory(const RecordSet& set, std::uint64_t limit) {
  const SampleDecoder decoder(set.spec(), set.metadata(), set.name());
  const json meta = set.metadata();
  InMemoryDataset data;
  data.name = set.name();
  const auto& shape = set.spec().shape;
  data.sample_shape = tensor::Shape(std::vector<std::int64_t>(shape.begin(), shape.end()));
  data.raw_mean = decoder.mean();
  data.raw_std = decoder.stddev();
  if (meta.is_object() && meta.contains("class_names") && meta["class_names"].is_array()) {
    for (const auto& name : meta["class_names"]) {
      data.class_names.push_back(name.is_string() ? name.get<std::string>() : name.dump());
    }
  }
  const std::int64_t classes = metadata_classes(meta);
  const std::uint64_t keep = limit > 0 && limit < set.size() ? limit : set.size();
  const std::size_t numel = set.spec().numel();
  data.features.resize(keep * numel);
  std::vector<std::int32_t> labels(set.size());
  const auto reader = set.open_reader();
  std::int32_t max_label = -1;
  uLong crc = crc32(0L, Z_NULL, 0);
  for (std::uint64_t i = 0; i < set.size(); ++i) {
    const RecordRef record = reader->read(i);
    check_record(record, set.spec().payload_bytes(), classes, [&] {
      return set.name() + ": record " + std::to_string(i) + " (key " + std::to_string(record.key) +
             ")";
    });
    crc =
        crc32_z(crc, reinterpret_cast<const Bytef*>(record.payload.data()), record.payload.size());
    if (i < keep) decoder.decode(record.payload, {data.features.data() + i * numel, numel});
    labels[i] = record.label;
    max_label = std::max(max_label, record.label);
  }
  // The whole set's content, in the same pass (RecordSet::fingerprint() may read it all again).
  data.fingerprint = shard::finish_fingerprint(static_cast<std::uint32_t>(crc), labels);
  labels.resize(keep);
  data.labels = std::move(labels);
  data.classes = classes > 0 ? classes : max_label + 1;
  return data;
}

}  // namespace tb::data
