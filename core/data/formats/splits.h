// Where each input format keeps a dataset's train and test splits, and opening them: the one
// place the project file's data.dataset, `data pack` and the pipeline agree on.
//
//   fashion-mnist  DIR/{train,t10k}-{images,labels}-idx?-ubyte[.gz] (DIR empty: the system's copy)
//   shards         DIR/train/, DIR/test/          (`trainbench data pack` output)
//   tfrecord       DIR/train[.tfrecord], DIR/test[.tfrecord] (a file or a folder of them); the
//                  samples' spec and metadata from DIR/dataset.json or options "sample"/"metadata"
//   hdf5           DIR/train.h5, DIR/test.h5      (datasets "images", "labels", optional keys)
//   npy            DIR/train.npz, DIR/test.npz    (members "x", "y")
//   lmdb           DIR/train/, DIR/test/          (write_lmdb layout)
//   csv            DIR/train.csv, DIR/test.csv    (numeric feature columns and a label column)
//
// `options` is the project's data.options object, per format:
//   tfrecord: {"features": "image", "label": "label", "key": "key",
//              "sample": {"dtype": "u8", "shape": [1, 28, 28]}, "metadata": {...}}
//   hdf5:     {"samples": "images", "labels": "labels", "keys": "", "metadata": {...}}
//   npy:      {"samples": "x", "labels": "y", "keys": "", "metadata": {...}}
//   csv:      {"label_column": "label", "key_column": "", "metadata": {...}}
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/dataset.h"
#include "core/data/record_set.h"

namespace tb::data {

// The dense input formats, in the order the docs list them.
const std::vector<std::string>& dataset_formats();
bool is_dataset_format(const std::string& name);

// Opens the train (or test) split of a dataset of `format` under `dir`. Throws tb::Error for an
// unknown format or option, tb::FormatError (naming the file) for what the format's reader
// refuses.
std::shared_ptr<const RecordSet> open_split(
    const std::string& format, const std::filesystem::path& dir, bool train,
    const nlohmann::json& options = nlohmann::json::object());

// Writes `source` as the train (or test) split of a dataset of `format` under `dir` (created),
// in the layout open_split() reads: tfrecord also writes DIR/dataset.json (the samples' spec and
// metadata), hdf5 and npy keep the metadata in the file. "shards" packs through ShardWriter (see
// `trainbench data pack`), and csv and fashion-mnist have no writer: tb::Error. Returns the
// number of records written.
std::uint64_t write_split(const std::string& format, const std::filesystem::path& dir, bool train,
                          shard::RecordSource& source);

// The first `limit` records of `set` (all when 0) decoded into memory, what the dataset inspector
// and `data check` read. Every record is read and checked, and the fingerprint is computed in the
// same pass over all of them: "crc32:xxxxxxxx" of the payloads in position order, then the labels
// (shard::finish_fingerprint), which for shards and Fashion-MNIST is their RecordSet fingerprint.
// Throws tb::FormatError for a record that cannot be read, a payload of the wrong size or a label
// outside the metadata's "classes".
InMemoryDataset load_into_memory(const RecordSet& set, std::uint64_t limit = 0);

}  // namespace tb::data
