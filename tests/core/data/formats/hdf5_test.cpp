#include "core/data/formats/hdf5.h"

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/core/data/formats/array_fixtures.h"
#include "tests/support/test_data.h"

namespace tb::data {
namespace {

using shard::SampleDType;
using testing::TempDir;
using namespace testing::arrays;

std::vector<TestRecord> write(const std::filesystem::path& file, const SampleSpec& spec,
                              std::size_t count, const Hdf5Names& names = {}, int deflate = 0,
                              bool position_keys = true,
                              nlohmann::json metadata = nlohmann::json::object()) {
  auto records = make_records(spec, count, 42, position_keys);
  VectorSource source(spec, records, std::move(metadata));
  EXPECT_EQ(write_hdf5(file, source, names, deflate), count);
  return records;
}

TEST(Hdf5, RoundTripsEveryDtypeWithKeysAndMetadata) {
  TempDir dir;
  for (SampleDType dtype : {SampleDType::u8, SampleDType::i8, SampleDType::i32, SampleDType::f32,
                            SampleDType::f16, SampleDType::bf16}) {
    SCOPED_TRACE(shard::dtype_name(dtype));
    const SampleSpec spec{dtype, {2, 3, 5}};
    const auto file = dir / (std::string(shard::dtype_name(dtype)) + ".h5");
    const Hdf5Names names{"images", "labels", "ids"};
    const auto records =
        write(file, spec, 37, names, 0, false, {{"classes", 12}, {"note", "kept"}});
    Hdf5RecordSet set(file, {names, {}});
    EXPECT_EQ(set.spec(), spec);
    EXPECT_EQ(set.name(), file.filename().string());
    EXPECT_EQ(set.metadata()["classes"], 12);
    EXPECT_EQ(set.metadata()["note"], "kept");
    expect_records(set, records);
  }
}

TEST(Hdf5, DeflatedChunksReadFromTwoThreads) {
  TempDir dir;
  const SampleSpec spec{SampleDType::u8, {1, 28, 28}};
  const auto records = write(dir / "train.h5", spec, 300, {}, 6);
  const auto set = std::make_shared<Hdf5RecordSet>(dir / "train.h5");
  expect_records(*set, records);
  expect_records_in_two_threads(*set, records);
  EXPECT_EQ(set->metadata()["normalize"]["scale"], 255);
  // Readers outlive the set and go through as_record_source.
  auto source = as_record_source(set);
  shard::SourceRecord r;
  std::size_t n = 0;
  while (source->next(r)) ++n;
  EXPECT_EQ(n, records.size());
}

TEST(Hdf5, WithoutAKeysDatasetKeysArePositions) {
  TempDir dir;
  const SampleSpec spec{SampleDType::f32, {4}};
  auto records = write(dir / "a.h5", spec, 20, {"x", "y", ""}, 0, false);
  for (std::size_t i = 0; i < records.size(); ++i) records[i].key = i;
  expect_records(Hdf5RecordSet(dir / "a.h5", {{"x", "y", ""}, {}}), records);
}

TEST(Hdf5, EmptySetOpens) {
  TempDir dir;
  write(dir / "empty.h5", {SampleDType::u8, {3}}, 0);
  Hdf5RecordSet set(dir / "empty.h5");
  EXPECT_EQ(set.size(), 0u);
  EXPECT_EQ(set.metadata()["classes"], 0);
}

// A file made with the HDF5 C API as h5py would make it: a nested group, chunked and
// deflate-compressed uint8 images, int64 labels, float64 features, a uint16 array.
void write_by_hand(const std::filesystem::path& file, int count) {
  std::lock_guard lock(hdf5_mutex());
  const hid_t f = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  const hid_t group = H5Gcreate2(f, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  auto dataset = [&](hid_t where, const char* name, hid_t type, std::vector<hsize_t> dims,
                     hid_t memory, const void* data, bool chunked) {
    const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    const hid_t create = H5Pcreate(H5P_DATASET_CREATE);
    if (chunked) {
      std::vector<hsize_t> chunk = dims;
      chunk[0] = 7;
      H5Pset_chunk(create, static_cast<int>(chunk.size()), chunk.data());
      H5Pset_deflate(create, 4);
    }
    const hid_t d = H5Dcreate2(where, name, type, space, H5P_DEFAULT, create, H5P_DEFAULT);
    ASSERT_GE(d, 0);
    ASSERT_GE(H5Dwrite(d, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
    H5Dclose(d);
    H5Pclose(create);
    H5Sclose(space);
  };
  const hsize_t n = static_cast<hsize_t>(count);
  std::vector<std::uint8_t> images(n * 4 * 6);
  std::vector<std::int64_t> labels(n);
  std::vector<double> features(n * 3);
  std::vector<std::uint16_t> wide(n * 2);
  std::vector<std::int64_t> keys(n);
  for (hsize_t i = 0; i < n; ++i) {
    for (hsize_t j = 0; j < 24; ++j) images[i * 24 + j] = static_cast<std::uint8_t>(i * 3 + j);
    labels[i] = static_cast<std::int64_t>(i % 5);
    for (hsize_t j = 0; j < 3; ++j) features[i * 3 + j] = 0.1 * static_cast<double>(i) + j;
    wide[i * 2] = static_cast<std::uint16_t>(60000 + i);
    wide[i * 2 + 1] = static_cast<std::uint16_t>(i);
    keys[i] = static_cast<std::int64_t>(1000 - i);
  }
  dataset(group, "images", H5T_STD_U8LE, {n, 4, 6}, H5T_NATIVE_UINT8, images.data(), true);
  dataset(group, "labels", H5T_STD_I64LE, {n}, H5T_NATIVE_INT64, labels.data(), false);
  dataset(f, "features", H5T_IEEE_F64BE, {n, 3}, H5T_NATIVE_DOUBLE, features.data(), false);
  dataset(f, "wide", H5T_STD_U16LE, {n, 2}, H5T_NATIVE_UINT16, wide.data(), false);
  dataset(f, "keys", H5T_STD_I64LE, {n}, H5T_NATIVE_INT64, keys.data(), false);
  dataset(f, "float_labels", H5T_IEEE_F32LE, {n}, H5T_NATIVE_DOUBLE, features.data(), false);
  std::vector<std::uint64_t> u64(n * 2, 7);
  dataset(f, "u64", H5T_STD_U64LE, {n, 2}, H5T_NATIVE_UINT64, u64.data(), false);
  dataset(f, "short_labels", H5T_STD_I32LE, {n - 1}, H5T_NATIVE_INT64, labels.data(), false);
  dataset(f, "flat", H5T_STD_U8LE, {n}, H5T_NATIVE_UINT8, images.data(), false);
  std::vector<std::int64_t> bad_labels = labels;
  bad_labels[3] = -2;
  dataset(f, "negative_labels", H5T_STD_I64LE, {n}, H5T_NATIVE_INT64, bad_labels.data(), false);
  std::vector<std::int64_t> bad_keys = keys;
  bad_keys[9] = bad_keys[2];
  dataset(f, "repeated_keys", H5T_STD_I64LE, {n}, H5T_NATIVE_INT64, bad_keys.data(), false);
  H5Gclose(group);
  H5Fclose(f);
}

TEST(Hdf5, ReadsAFileMadeWithTheCApi) {
  TempDir dir;
  const auto file = dir / "hand.h5";
  write_by_hand(file, 40);

  Hdf5RecordSet images(file, {{"train/images", "/train/labels", "keys"}, {}});
  EXPECT_EQ(images.spec(), (SampleSpec{SampleDType::u8, {4, 6}}));
  EXPECT_EQ(images.size(), 40u);
  EXPECT_EQ(images.metadata()["classes"], 5);
  auto reader = images.open_reader();
  for (std::uint64_t i : {0u, 39u, 13u, 7u, 6u}) {
    const RecordRef r = reader->read(i);
    EXPECT_EQ(r.key, 1000 - i);
    EXPECT_EQ(r.label, static_cast<int>(i % 5));
    ASSERT_EQ(r.payload.size(), 24u);
    for (std::size_t j = 0; j < 24; ++j) {
      ASSERT_EQ(std::to_integer<int>(r.payload[j]), static_cast<std::uint8_t>(i * 3 + j));
    }
  }
  expect_records_in_two_threads(images, [&] {
    std::vector<TestRecord> records(40);
    for (std::size_t i = 0; i < 40; ++i) {
      records[i].key = 1000 - i;
      records[i].label = static_cast<int>(i % 5);
      for (std::size_t j = 0; j < 24; ++j) {
        records[i].payload.push_back(std::byte(static_cast<std::uint8_t>(i * 3 + j)));
      }
    }
    return records;
  }());

  // Big-endian float64 becomes f32; uint16 widens to i32.
  Hdf5RecordSet features(file, {{"features", "train/labels", ""}, {}});
  EXPECT_EQ(features.spec(), (SampleSpec{SampleDType::f32, {3}}));
  auto feature_reader = features.open_reader();
  const RecordRef f = feature_reader->read(12);
  float values[3];
  std::memcpy(values, f.payload.data(), sizeof values);
  EXPECT_EQ(values[0], static_cast<float>(1.2000000000000002));
  EXPECT_EQ(values[2], static_cast<float>(0.1 * 12 + 2));
  EXPECT_FALSE(features.metadata().contains("normalize"));

  Hdf5RecordSet wide(file, {{"wide", "train/labels", ""}, {}});
  EXPECT_EQ(wide.spec(), (SampleSpec{SampleDType::i32, {2}}));
  std::int32_t w[2];
  std::memcpy(w, wide.open_reader()->read(5).payload.data(), sizeof w);
  EXPECT_EQ(w[0], 60005);
  EXPECT_EQ(w[1], 5);
}

TEST(Hdf5, BadDatasetsAreFormatErrorsNamingThem) {
  TempDir dir;
  const auto file = dir / "hand.h5";
  write_by_hand(file, 40);
  const std::string name = file.string();
  auto open = [&](Hdf5Names names) { return [=] { Hdf5RecordSet set(file, {names, {}}); }; };
  expect_format_error(open({"nope", "train/labels", ""}),
                      {name, "dataset 'nope'", "no such dataset", "'train'", "'features'"});
  expect_format_error(open({"train/images", "missing/labels", ""}),
                      {name, "dataset 'missing/labels'", "no such dataset"});
  expect_format_error(open({"train", "train/labels", ""}),
                      {name, "dataset 'train'", "is not a dataset"});
  expect_format_error(open({"train/images", "float_labels", ""}),
                      {name, "dataset 'float_labels'", "4-byte float", "expected integers"});
  expect_format_error(open({"train/images", "short_labels", ""}),
                      {name, "dataset 'short_labels'", "[39]", "expected [40]"});
  expect_format_error(open({"train/images", "wide", ""}),
                      {name, "dataset 'wide'", "[40, 2]", "expected [40]"});
  expect_format_error(open({"u64", "train/labels", ""}),
                      {name, "dataset 'u64'", "8-byte unsigned integer", "expected uint8"});
  expect_format_error(open({"flat", "train/labels", ""}),
                      {name, "dataset 'flat'", "shape [40]", "1 to 6 sample dimensions"});
  expect_format_error(open({"train/images", "negative_labels", ""}),
                      {name, "dataset 'negative_labels', row 3", "label -2"});
  expect_format_error(open({"train/images", "train/labels", "repeated_keys"}),
                      {name, "dataset 'repeated_keys', row 9", "repeats the key of row 2"});
  expect_format_error(
      [&] {
        Hdf5RecordSet set(file, {{"train/images", "train/labels", ""}, {{"classes", 3}}});
      },
      {name, "\"classes\": 3", "largest label 4"});
  Hdf5RecordSet set(file, {{"train/images", "train/labels", ""}, {}});
  expect_format_error([&] { set.open_reader()->read(40); },
                      {name, "dataset 'train/images', row 40", "outside"});
}

TEST(Hdf5, CorruptFilesAreFormatErrors) {
  TempDir dir;
  expect_format_error([&] { Hdf5RecordSet set(dir / "absent.h5"); }, {"absent.h5", "no such file"});
  { std::ofstream(dir / "text.h5") << "not an HDF5 file at all, just some words\n"; }
  expect_format_error([&] { Hdf5RecordSet set(dir / "text.h5"); },
                      {(dir / "text.h5").string(), "no HDF5 signature"});

  write(dir / "good.h5", {SampleDType::u8, {1, 28, 28}}, 200);
  const auto size = std::filesystem::file_size(dir / "good.h5");
  for (std::uintmax_t keep : {size / 2, size - 100, std::uintmax_t{600}}) {
    SCOPED_TRACE(keep);
    std::filesystem::copy_file(dir / "good.h5", dir / "cut.h5",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(dir / "cut.h5", keep);
    expect_format_error([&] { Hdf5RecordSet set(dir / "cut.h5"); }, {(dir / "cut.h5").string()});
  }
  // A set whose file goes away: its next reader cannot open it.
  Hdf5RecordSet set(dir / "good.h5");
  std::filesystem::rename(dir / "good.h5", dir / "moved.h5");
  expect_format_error([&] { set.open_reader(); }, {(dir / "good.h5").string(), "no such file"});
  std::filesystem::rename(dir / "moved.h5", dir / "good.h5");
  // Zeros over the superblock: still a file, no signature.
  std::filesystem::copy_file(dir / "good.h5", dir / "zeroed.h5");
  {
    std::fstream f(dir / "zeroed.h5", std::ios::in | std::ios::out | std::ios::binary);
    const std::string zeros(64, '\0');
    f.write(zeros.data(), 64);
  }
  expect_format_error([&] { Hdf5RecordSet set(dir / "zeroed.h5"); },
                      {(dir / "zeroed.h5").string()});
}

TEST(Hdf5, WriterRefusesASourceThatBreaksItsSpec) {
  TempDir dir;
  const SampleSpec spec{SampleDType::u8, {4}};
  auto records = make_records(spec, 5, 1);
  records[3].payload.pop_back();
  VectorSource source(spec, records);
  EXPECT_THROW(write_hdf5(dir / "bad.h5", source), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.h5"));
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.h5.tmp"));
}

}  // namespace
}  // namespace tb::data
