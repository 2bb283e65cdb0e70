#include "core/data/formats/npy.h"

#include <gtest/gtest.h>
#include <zip.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "tests/core/data/formats/array_fixtures.h"
#include "tests/support/test_data.h"

namespace tb::data {
namespace {

using shard::SampleDType;
using testing::TempDir;
using namespace testing::arrays;

// An .npy with the header dict text given as is (padded like NumPy unless `exact`).
std::string raw_npy(std::string dict, const void* data, std::size_t bytes, int version = 1) {
  const std::size_t preamble = version == 1 ? 10 : 12;
  while ((preamble + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(version);
  out += '\0';
  for (std::size_t i = 0; i < (version == 1 ? 2u : 4u); ++i) {
    out += static_cast<char>(dict.size() >> (8 * i));
  }
  out += dict;
  out.append(static_cast<const char*>(data), bytes);
  return out;
}

void save(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary) << bytes;
}

std::string labels_npy(const std::vector<std::int64_t>& labels) {
  return raw_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (" +
                     std::to_string(labels.size()) + ",), }",
                 labels.data(), labels.size() * 8);
}

TEST(NpyHeader, ParsesWhatItWritesAndNumPyVariants) {
  for (const auto& shape : std::vector<std::vector<std::uint64_t>>{{5}, {3, 28, 28}, {0, 2}}) {
    const std::string text = npy_header("<f4", shape);
    EXPECT_EQ(text.size() % 64, 0u);
    std::uint64_t numel = 1;
    for (auto d : shape) numel *= d;
    const NpyHeader h =
        parse_npy_header(std::as_bytes(std::span(text)), text.size() + numel * 4, "mem");
    EXPECT_EQ(h.descr, "<f4");
    EXPECT_FALSE(h.fortran_order);
    EXPECT_EQ(h.shape, shape);
    EXPECT_EQ(h.data_offset, text.size());
  }
  // Version 2, double quotes, no trailing comma, Python 2 longs, keys in another order.
  const std::string v2 = raw_npy(
      "{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"|u1\"}", "abcdef", 6, 2);
  const NpyHeader h = parse_npy_header(std::as_bytes(std::span(v2)), v2.size(), "v2");
  EXPECT_EQ(h.major_version, 2);
  EXPECT_EQ(h.shape, (std::vector<std::uint64_t>{2, 3}));
  EXPECT_EQ(h.data_offset, 128u);
}

TEST(NpyHeader, BadHeadersNameTheByte) {
  auto parse = [](std::string bytes) {
    return [bytes] { parse_npy_header(std::as_bytes(std::span(bytes)), bytes.size(), "f.npy"); };
  };
  expect_format_error(parse("\x93NUMP"), {"f.npy: at byte 5", "preamble"});
  expect_format_error(parse("PK\x03\x04 this is a zip"), {"f.npy: at byte 0", "magic"});
  std::string v9 = raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "abcd", 4);
  v9[6] = 9;
  expect_format_error(parse(v9), {"f.npy: at byte 6", "version 9.0"});
  const std::string good = raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                                   "0123456789abcdef", 16);
  expect_format_error(parse(good.substr(0, 40)), {"f.npy: at byte 40", "inside the header"});
  expect_format_error(parse(good.substr(0, good.size() - 3)),
                      {"f.npy: at byte 141", "13 data bytes", "(2, 2)", "needs 16"});
  expect_format_error(
      parse(raw_npy("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}", "abcd", 4)),
      {"f.npy: at byte 44", "True or False"});
  expect_format_error(parse(raw_npy("{'descr': '<f4', 'shape': (1,), 'colour': 'red'}", "abcd", 4)),
                      {"f.npy: at byte 42", "unexpected key 'colour'"});
  expect_format_error(parse(raw_npy("{'descr': '<f4', 'shape': (1,)}", "abcd", 4)),
                      {"f.npy", "no 'fortran_order'"});
  expect_format_error(parse(raw_npy("{'descr': [('a', '<f4')], 'fortran_order': False, "
                                    "'shape': (1,)}",
                                    "abcd", 4)),
                      {"f.npy: at byte 20", "structured dtype"});
  expect_format_error(
      parse(raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, -2)}", "abcd", 4)),
      {"f.npy", "non-negative integer in 'shape'"});
}

void write_pair(const std::filesystem::path& dir, const SampleSpec& spec,
                std::vector<TestRecord>& records, bool keys) {
  VectorSource source(spec, records, {{"classes", 10}});
  EXPECT_EQ(write_npy(dir / "x.npy", dir / "y.npy", source, keys ? dir / "k.npy" : ""),
            records.size());
}

TEST(Npy, PairRoundTripsEveryNumPyDtype) {
  TempDir dir;
  for (SampleDType dtype :
       {SampleDType::u8, SampleDType::i8, SampleDType::i32, SampleDType::f16, SampleDType::f32}) {
    SCOPED_TRACE(shard::dtype_name(dtype));
    const SampleSpec spec{dtype, {3, 4}};
    auto records = make_records(spec, 50, 7, false);
    write_pair(dir.path(), spec, records, true);
    const auto set = NpyRecordSet::open_npy(dir / "x.npy", dir / "y.npy", dir / "k.npy");
    EXPECT_EQ(set->spec(), spec);
    EXPECT_EQ(set->name(), "x.npy");
    expect_records(*set, records);
    expect_records_in_two_threads(*set, records);
  }
  // Without keys they are positions.
  const SampleSpec spec{SampleDType::u8, {2}};
  auto records = make_records(spec, 10, 3, true);
  write_pair(dir.path(), spec, records, false);
  expect_records(*NpyRecordSet::open_npy(dir / "x.npy", dir / "y.npy"), records);
  EXPECT_FALSE(std::filesystem::exists(dir / "x.npy.tmp"));

  VectorSource bf16({SampleDType::bf16, {2}}, {});
  EXPECT_THROW(write_npy(dir / "b.npy", dir / "c.npy", bf16), Error);
}

TEST(Npy, NpzStoredAndDeflatedRoundTrip) {
  TempDir dir;
  const SampleSpec spec{SampleDType::f32, {1, 8, 8}};
  const auto records = make_records(spec, 120, 11, false);
  for (bool compress : {false, true}) {
    SCOPED_TRACE(compress);
    VectorSource source(spec, records, {{"classes", 10}, {"origin", "test"}});
    NpzWriteOptions options;
    options.names = {"images", "labels", "keys"};
    options.compress = compress;
    const auto file = dir / (compress ? "c.npz" : "s.npz");
    EXPECT_EQ(write_npz(file, source, options), records.size());
    const auto set = NpyRecordSet::open_npz(file, options.names);
    EXPECT_EQ(set->spec(), spec);
    EXPECT_EQ(set->metadata()["origin"], "test");
    expect_records(*set, records);
    expect_records_in_two_threads(*set, records);
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "s.npz.samples.tmp"));
}

TEST(Npy, ReadsNumPyFilesMadeByHand) {
  TempDir dir;
  // float64 samples narrow to f32; int64 and uint8 labels; fortran_order on a 1-d array is fine.
  const double values[6] = {0.1, -2.5, 1e10, 3.0, 1.0 / 3, -0.0};
  save(dir / "x.npy",
       raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", values, 48));
  const std::uint8_t labels[2] = {4, 1};
  save(dir / "y.npy",
       raw_npy("{'descr': '|u1', 'fortran_order': True, 'shape': (2,), }", labels, 2));
  const auto set = NpyRecordSet::open_npy(dir / "x.npy", dir / "y.npy");
  EXPECT_EQ(set->spec(), (SampleSpec{SampleDType::f32, {3}}));
  EXPECT_EQ(set->metadata()["classes"], 5);
  auto reader = set->open_reader();
  const RecordRef r = reader->read(1);
  EXPECT_EQ(r.label, 1);
  EXPECT_EQ(r.key, 1u);
  float f[3];
  std::memcpy(f, r.payload.data(), 12);
  EXPECT_EQ(f[0], 3.0f);
  EXPECT_EQ(f[1], static_cast<float>(1.0 / 3));
  EXPECT_TRUE(std::signbit(f[2]));

  save(dir / "y8.npy", labels_npy({2, 0}));
  EXPECT_EQ(NpyRecordSet::open_npy(dir / "x.npy", dir / "y8.npy")->open_reader()->read(0).label, 2);
}

TEST(Npy, BadArraysAreFormatErrors) {
  TempDir dir;
  const std::uint8_t bytes[64] = {};
  auto samples = [&](const std::string& dict, std::size_t n = 64) {
    save(dir / "x.npy", raw_npy(dict, bytes, n));
  };
  save(dir / "y.npy", labels_npy({0, 1, 2, 3}));
  const std::string x = (dir / "x.npy").string(), y = (dir / "y.npy").string();
  auto open = [&] { NpyRecordSet::open_npy(dir / "x.npy", dir / "y.npy"); };

  samples("{'descr': '<f4', 'fortran_order': True, 'shape': (4, 4), }");
  expect_format_error(open, {x, "fortran_order True"});
  samples("{'descr': '>f4', 'fortran_order': False, 'shape': (4, 4), }");
  expect_format_error(open, {x, "big-endian", "'>f4'", "astype('<f4')"});
  samples("{'descr': '<c8', 'fortran_order': False, 'shape': (4, 2), }");
  expect_format_error(open, {x, "'<c8'", "expected '|u1'"});
  samples("{'descr': '|O', 'fortran_order': False, 'shape': (4, 2), }");
  expect_format_error(open, {x, "'|O'", "plain number type"});
  samples("{'descr': '|u1', 'fortran_order': False, 'shape': (16,), }");
  expect_format_error(open, {x, "(16,)", "1 to 6 sample dimensions"});
  samples("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 0), }");
  expect_format_error(open, {x, "(4, 0)", "sample dimensions 1"});
  samples("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 5), }");
  expect_format_error(open, {x, "needs 80"});

  samples("{'descr': '|u1', 'fortran_order': False, 'shape': (5, 4), }");
  expect_format_error(open, {y, "labels have shape (4,)", "expected (5,)"});
  samples("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 4), }");
  const float float_labels[4] = {};
  save(dir / "y.npy",
       raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", float_labels, 16));
  expect_format_error(open, {y, "labels have descr '<f4'", "expected integers"});
  save(dir / "y.npy", labels_npy({0, 1, -7, 3}));
  expect_format_error(open, {y, "labels, row 2", "label -7"});
  save(dir / "y.npy", labels_npy({0, 1, 2, 3}));
  save(dir / "k.npy", labels_npy({5, 6, 7, 6}));
  expect_format_error([&] { NpyRecordSet::open_npy(dir / "x.npy", dir / "y.npy", dir / "k.npy"); },
                      {(dir / "k.npy").string(), "row 3", "repeats the key of row 1"});
  expect_format_error([&] { NpyRecordSet::open_npy(dir / "absent.npy", dir / "y.npy"); },
                      {"absent.npy", "cannot open"});
}

TEST(Npy, FileCutWhileOpenIsAnErrorNotACrash) {
  TempDir dir;
  const SampleSpec spec{SampleDType::u8, {100}};
  auto records = make_records(spec, 20, 5);
  write_pair(dir.path(), spec, records, false);
  const auto set = NpyRecordSet::open_npy(dir / "x.npy", dir / "y.npy");
  auto reader = set->open_reader();
  std::filesystem::resize_file(dir / "x.npy", 128 + 100 * 15 + 30);
  EXPECT_NO_THROW(reader->read(14));
  expect_format_error([&] { reader->read(15); },
                      {(dir / "x.npy").string(), "inside sample 15", "at byte 1658"});
  expect_format_error([&] { reader->read(20); }, {"sample 20 is outside"});
}

TEST(Npy, BadArchivesAreFormatErrors) {
  TempDir dir;
  const SampleSpec spec{SampleDType::u8, {64}};
  const auto records = make_records(spec, 200, 9);
  for (bool compress : {false, true}) {
    VectorSource source(spec, records);
    NpzWriteOptions options;
    options.compress = compress;
    write_npz(dir / (compress ? "c.npz" : "s.npz"), source, options);
  }
  const std::string s = (dir / "s.npz").string();
  expect_format_error(
      [&] {
        NpyRecordSet::open_npz(dir / "s.npz", {"images", "y", ""});
      },
      {s, "no member 'images.npy'", "'x.npy'", "'y.npy'"});
  expect_format_error(
      [&] {
        NpyRecordSet::open_npz(dir / "s.npz", {"x", "x", ""});
      },
      {s, "member 'x.npy'", "labels have shape (200, 64)", "expected (200,)"});
  save(dir / "junk.npz", "this is not a zip archive");
  expect_format_error([&] { NpyRecordSet::open_npz(dir / "junk.npz"); },
                      {"junk.npz", "not a readable zip archive"});
  // Cut: the central directory is gone.
  std::filesystem::copy_file(dir / "s.npz", dir / "cut.npz");
  std::filesystem::resize_file(dir / "cut.npz", std::filesystem::file_size(dir / "s.npz") / 2);
  expect_format_error([&] { NpyRecordSet::open_npz(dir / "cut.npz"); },
                      {"cut.npz", "not a readable zip archive"});
  // A flipped byte inside the deflated samples: inflating or the CRC fails at open.
  std::string bytes;
  {
    std::ifstream in(dir / "c.npz", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[200] = static_cast<char>(bytes[200] ^ 0x5a);
  save(dir / "flip.npz", bytes);
  expect_format_error([&] { NpyRecordSet::open_npz(dir / "flip.npz"); },
                      {"flip.npz", "member 'x.npy'"});
}

TEST(Npy, StoredMemberShorterThanItsShape) {
  TempDir dir;
  const std::uint8_t data[10] = {};
  const std::string x =
      raw_npy("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 3), }", data, 10);
  const std::string y = labels_npy({0, 1, 2, 3});
  int code = 0;
  zip_t* zip = zip_open((dir / "short.npz").c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  ASSERT_NE(zip, nullptr);
  for (const auto& [name, text] : {std::pair{"x.npy", &x}, std::pair{"y.npy", &y}}) {
    const zip_int64_t i =
        zip_file_add(zip, name, zip_source_buffer(zip, text->data(), text->size(), 0), 0);
    ASSERT_GE(i, 0);
    zip_set_file_compression(zip, static_cast<zip_uint64_t>(i), ZIP_CM_STORE, 0);
  }
  ASSERT_EQ(zip_close(zip), 0);
  expect_format_error([&] { NpyRecordSet::open_npz(dir / "short.npz"); },
                      {"short.npz: member 'x.npy': at byte 138", "needs 12"});
}

// Any byte of a small .npy or .npz changed: the set opens and reads, or throws FormatError.
TEST(Npy, FlippedBytesNeverCrash) {
  TempDir dir;
  const SampleSpec spec{SampleDType::f32, {3}};
  const auto records = make_records(spec, 6, 2);
  VectorSource pair_source(spec, records);
  write_npy(dir / "x.npy", dir / "y.npy", pair_source);
  VectorSource zip_source(spec, records);
  write_npz(dir / "a.npz", zip_source, {{}, true});
  auto load = [](const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string x = load(dir / "x.npy"), npz = load(dir / "a.npz");
  auto read_all = [](const RecordSet& set) {
    auto reader = set.open_reader();
    for (std::uint64_t i = 0; i < set.size(); ++i) reader->read(i);
  };
  std::mt19937 rng(17);
  int errors = 0;
  for (int round = 0; round < 400; ++round) {
    const bool archive = round % 2 == 1;
    std::string bytes = archive ? npz : x;
    const std::size_t at = rng() % bytes.size();
    bytes[at] = static_cast<char>(rng() & 0xff);
    if (rng() % 4 == 0) bytes.resize(rng() % bytes.size());
    save(dir / (archive ? "b.npz" : "z.npy"), bytes);
    try {
      if (archive) {
        read_all(*NpyRecordSet::open_npz(dir / "b.npz"));
      } else {
        read_all(*NpyRecordSet::open_npy(dir / "z.npy", dir / "y.npy"));
      }
    } catch (const FormatError&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 50);
}

}  // namespace
}  // namespace tb::data
