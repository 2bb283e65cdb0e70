// TFRecord: framing checked against bytes built from the format's definition, Examples against
// protobuf wire bytes built by hand (what TensorFlow writes), and every corruption a FormatError
// naming the file and the record's offset.
#include "core/data/formats/tfrecord.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/data/shard_format.h"
#include "core/util/error.h"
#include "tests/support/test_data.h"

namespace tb::data {
namespace {

using Bytes = std::vector<std::uint8_t>;
using shard::SampleDType;

std::span<const std::byte> as_span(const Bytes& bytes) {
  return std::as_bytes(std::span(bytes));
}
Bytes to_bytes(std::span<const std::byte> bytes) {
  Bytes out(bytes.size());
  if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

Bytes read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}
void write_file(const std::filesystem::path& file, const Bytes& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// ---- protobuf wire encoding, by hand: what any TensorFlow writes for these messages ----

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}
Bytes varint(std::uint64_t v) {
  Bytes out;
  do {
    out.push_back(static_cast<std::uint8_t>((v & 0x7f) | (v >= 0x80 ? 0x80 : 0)));
    v >>= 7;
  } while (v != 0);
  return out;
}
// A length-delimited field: tag byte (field << 3 | 2), length, body.
Bytes field(std::uint8_t tag, const Bytes& body) {
  return cat({{tag}, varint(body.size()), body});
}
Bytes text(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

// Feature { oneof: BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3 }
Bytes bytes_feature(std::initializer_list<Bytes> values) {
  Bytes list;
  for (const auto& v : values) list = cat({list, field(0x0a, v)});
  return field(0x0a, list);
}
Bytes float_feature(const std::vector<float>& values) {
  Bytes packed;
  for (float v : values) {
    const auto bits = std::bit_cast<std::uint32_t>(v);
    for (int i = 0; i < 4; ++i) packed.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
  }
  return field(0x12, field(0x0a, packed));
}
Bytes int64_feature(const std::vector<std::int64_t>& values) {
  Bytes packed;
  for (auto v : values) packed = cat({packed, varint(static_cast<std::uint64_t>(v))});
  return field(0x1a, field(0x0a, packed));
}
// Features.feature is map<string, Feature>: each entry a message { key = 1; value = 2 }.
Bytes entry(const std::string& name, const Bytes& feature) {
  return field(0x0a, cat({field(0x0a, text(name)), field(0x12, feature)}));
}
Bytes example(std::initializer_list<Bytes> entries) {
  return field(0x0a, cat(entries));
}

// ---- samples ----

struct Sample {
  std::uint64_t key;
  std::int32_t label;
  Bytes payload;
};

class VectorSource final : public shard::RecordSource {
 public:
  VectorSource(SampleSpec spec, std::vector<Sample> samples)
      : spec_(std::move(spec)), samples_(std::move(samples)) {}
  std::string name() const override { return "vector"; }
  SampleSpec spec() const override { return spec_; }
  nlohmann::json metadata() const override { return {{"classes", 10}}; }
  std::uint64_t size() const override { return samples_.size(); }
  bool next(shard::SourceRecord& out) override {
    if (next_ == samples_.size()) return false;
    const auto& s = samples_[next_++];
    out.key = s.key;
    out.label = s.label;
    out.payload = as_span(s.payload);
    return true;
  }

 private:
  SampleSpec spec_;
  std::vector<Sample> samples_;
  std::size_t next_ = 0;
};

std::vector<Sample> make_samples(const SampleSpec& spec, int count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Sample> out;
  for (int i = 0; i < count; ++i) {
    Sample s{1000 + 3 * static_cast<std::uint64_t>(i), i % 10, Bytes(spec.payload_bytes())};
    if (spec.dtype == SampleDType::f32) {
      std::normal_distribution<float> normal;
      for (std::size_t j = 0; j < spec.numel(); ++j) {
        const auto bits = std::bit_cast<std::uint32_t>(normal(rng));
        for (int b = 0; b < 4; ++b)
          s.payload[4 * j + b] = static_cast<std::uint8_t>(bits >> (8 * b));
      }
    } else {
      for (auto& b : s.payload) b = static_cast<std::uint8_t>(rng());
    }
    out.push_back(std::move(s));
  }
  return out;
}

TfRecordSchema schema_for(SampleSpec spec) {
  TfRecordSchema schema;
  schema.spec = std::move(spec);
  schema.metadata = {{"classes", 10}};
  return schema;
}

// Runs `f`, expecting a FormatError whose message holds every one of `parts`.
template <typename F>
void expect_format_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no FormatError";
  } catch (const FormatError& e) {
    const std::string what = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(what.find(part), std::string::npos) << "\"" << part << "\" not in: " << what;
    }
  }
}

std::string at_byte(std::uint64_t offset) {
  return "at byte " + std::to_string(offset);
}

// ---- CRC and framing ----

TEST(TfRecordCrc, Crc32cCheckValue) {
  const std::string digits = "123456789";
  EXPECT_EQ(shard::crc32c(std::as_bytes(std::span(digits))), 0xE3069283u);
}

TEST(TfRecordCrc, MaskFromTheDefinition) {
  // 0xE3069283 >> 15 = 0x0001C60D; (0xE3069283 << 17) mod 2^32 = 0x1283 << 17 = 0x25060000;
  // or'ed 0x2507C60D; + 0xA282EAD8 = 0xC78AB0E5.
  EXPECT_EQ(tfrecord_mask(0xE3069283u), 0xC78AB0E5u);
  EXPECT_EQ(tfrecord_mask(0), 0xA282EAD8u);
  // 1 rotated right by 15 is 1 << 17 = 0x20000; + delta = 0xA284EAD8.
  EXPECT_EQ(tfrecord_mask(1), 0xA284EAD8u);
  // 0xFFFFFFFF rotates to itself; + delta wraps to delta - 1.
  EXPECT_EQ(tfrecord_mask(0xFFFFFFFFu), 0xA282EAD7u);
  for (std::uint32_t v : {0u, 1u, 0x12345678u, 0xE3069283u, 0xFFFFFFFFu}) {
    EXPECT_EQ(tfrecord_unmask(tfrecord_mask(v)), v);
  }
}

// Records as TensorFlow frames them, each byte computed from the definition (length, masked
// CRC32C of the length bytes, data, masked CRC32C of the data) by an independent implementation.
const Bytes kEmptyRecord = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                            0x29, 0x03, 0x98, 0x07, 0xd8, 0xea, 0x82, 0xa2};
const Bytes kAbcRecord = {0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb0, 0x99,
                          0x49, 0x0e, 0x61, 0x62, 0x63, 0x6e, 0x57, 0xf1, 0x21};
const Bytes kHelloRecord = {0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc5, 0xe5,
                            0x69, 0x3f, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x74, 0x66,
                            0x72, 0x65, 0x63, 0x6f, 0x72, 0x64, 0x9f, 0x5b, 0x76, 0x22};

TEST(TfRecordFraming, ByteExact) {
  EXPECT_EQ(to_bytes(tfrecord_frame(as_span(text("abc")))), kAbcRecord);
  EXPECT_EQ(to_bytes(tfrecord_frame({})), kEmptyRecord);

  testing::TempDir dir;
  const auto file = dir / "known.tfrecord";
  TfRecordWriter writer(file);
  EXPECT_EQ(writer.write(as_span(text("abc"))), 0u);
  EXPECT_EQ(writer.write({}), kAbcRecord.size());
  EXPECT_EQ(writer.write(as_span(text("hello tfrecord"))), kAbcRecord.size() + kEmptyRecord.size());
  writer.close();
  EXPECT_EQ(writer.records(), 3u);
  EXPECT_EQ(read_file(file), cat({kAbcRecord, kEmptyRecord, kHelloRecord}));

  TfRecordFile reader(file);
  const auto offsets = reader.scan();
  ASSERT_EQ(offsets, (std::vector<std::uint64_t>{0, 19, 35, 65}));
  EXPECT_EQ(to_bytes(reader.read(0, 3)), text("abc"));
  EXPECT_TRUE(reader.read(19, 0).empty());
  EXPECT_EQ(to_bytes(reader.read(35, 14)), text("hello tfrecord"));
}

TEST(TfRecordFraming, EmptyFileHoldsNoRecords) {
  testing::TempDir dir;
  write_file(dir / "empty.tfrecord", {});
  EXPECT_EQ(TfRecordFile(dir / "empty.tfrecord").scan(), (std::vector<std::uint64_t>{0}));
}

TEST(TfRecordFraming, WriterNamesTheFileItCannotCreate) {
  testing::TempDir dir;
  try {
    TfRecordWriter writer(dir / "missing" / "x.tfrecord");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "missing" / "x.tfrecord").string()),
              std::string::npos);
  }
}

// ---- Examples ----

// tf.train.Example { image: bytes_list [01 02 03 04], key: int64_list [7], label: int64_list [3] }
// as protobuf serializes it (map entries in key order), spelled out byte by byte.
const Bytes kReferenceExample = {
    0x0a, 0x31,                                         // Example.features, 49 bytes
    0x0a, 0x11,                                         //  feature entry, 17 bytes
    0x0a, 0x05, 'i',  'm',  'a',  'g',  'e',            //   key "image"
    0x12, 0x08, 0x0a, 0x06, 0x0a, 0x04, 1,    2, 3, 4,  //   Feature.bytes_list.value
    0x0a, 0x0c,                                         //  feature entry, 12 bytes
    0x0a, 0x03, 'k',  'e',  'y',                        //   key "key"
    0x12, 0x05, 0x1a, 0x03, 0x0a, 0x01, 0x07,           //   Feature.int64_list.value [7]
    0x0a, 0x0e,                                         //  feature entry, 14 bytes
    0x0a, 0x05, 'l',  'a',  'b',  'e',  'l',            //   key "label"
    0x12, 0x05, 0x1a, 0x03, 0x0a, 0x01, 0x03,           //   Feature.int64_list.value [3]
};

SampleSpec u8_2x2() {
  return {SampleDType::u8, {2, 2}};
}

std::shared_ptr<TfRecordSet> set_of(const std::filesystem::path& file,
                                    const std::vector<Bytes>& records, TfRecordSchema schema) {
  TfRecordWriter writer(file);
  for (const auto& r : records) writer.write(as_span(r));
  writer.close();
  return TfRecordSet::open(file, std::move(schema));
}

TEST(TfRecordExample, ReferenceWireBytes) {
  ASSERT_EQ(kReferenceExample.size(), 51u);
  EXPECT_EQ(kReferenceExample,
            (example({entry("image", bytes_feature({{1, 2, 3, 4}})),
                      entry("key", int64_feature({7})), entry("label", int64_feature({3}))})));
  const Bytes payload = {1, 2, 3, 4};
  EXPECT_EQ(to_bytes(encode_tfrecord_example(schema_for(u8_2x2()), 7, 3, as_span(payload))),
            kReferenceExample);

  testing::TempDir dir;
  // The same Example, and one with its entries in another order and a feature the schema
  // does not name (TensorFlow writers add such ones): both decode to the same sample.
  const Bytes reordered = example(
      {entry("label", int64_feature({3})), entry("image/format", bytes_feature({text("raw")})),
       entry("image", bytes_feature({{1, 2, 3, 4}})), entry("key", int64_feature({7}))});
  auto set = set_of(dir / "ref.tfrecord", {kReferenceExample, reordered}, schema_for(u8_2x2()));
  ASSERT_EQ(set->size(), 2u);
  auto reader = set->open_reader();
  for (std::uint64_t i = 0; i < 2; ++i) {
    const RecordRef r = reader->read(i);
    EXPECT_EQ(r.key, 7u);
    EXPECT_EQ(r.label, 3);
    EXPECT_EQ(to_bytes(r.payload), payload);
  }
}

TEST(TfRecordExample, FloatListSamplesAndNegativeKeys) {
  testing::TempDir dir;
  TfRecordSchema schema = schema_for({SampleDType::f32, {3}});
  const std::vector<float> values = {1.5f, -2.25f, 3e-8f};
  auto set =
      set_of(dir / "f.tfrecord",
             {example({entry("image", float_feature(values)), entry("label", int64_feature({9})),
                       entry("key", int64_feature({-1}))})},
             schema);
  auto reader = set->open_reader();  // the payload lives in the reader
  const RecordRef r = reader->read(0);
  EXPECT_EQ(r.label, 9);
  EXPECT_EQ(r.key, ~std::uint64_t{0});  // int64 -1: the bits of the largest u64 key
  ASSERT_EQ(r.payload.size(), 12u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(std::bit_cast<float>(shard::get_u32(r.payload.data() + 4 * i)), values[i]);
  }
}

// ---- round trips ----

void expect_round_trip(const SampleSpec& spec, int count) {
  testing::TempDir dir;
  const auto samples = make_samples(spec, count, 42);
  VectorSource source(spec, samples);
  const auto file = dir / "split" / "train.tfrecord";
  EXPECT_EQ(write_tfrecord(file, source, schema_for(spec)), static_cast<std::uint64_t>(count));
  EXPECT_FALSE(std::filesystem::exists(dir / "split" / "train.tfrecord.tmp"));

  auto set = TfRecordSet::open(file, schema_for(spec));
  EXPECT_EQ(set->name(), "train.tfrecord");
  EXPECT_EQ(set->spec(), spec);
  EXPECT_EQ(set->metadata()["classes"], 10);
  ASSERT_EQ(set->size(), static_cast<std::uint64_t>(count));

  // Two readers at once, in shuffled order: each has its own file and buffers.
  std::vector<std::uint64_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  auto a = set->open_reader(), b = set->open_reader();
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto p = order[i], q = order[order.size() - 1 - i];
    const RecordRef ra = a->read(p);
    const RecordRef rb = b->read(q);
    EXPECT_EQ(ra.key, samples[p].key);
    EXPECT_EQ(ra.label, samples[p].label);
    EXPECT_EQ(to_bytes(ra.payload), samples[p].payload);
    EXPECT_EQ(rb.key, samples[q].key);
    EXPECT_EQ(to_bytes(rb.payload), samples[q].payload);
  }
  // And back through RecordSource, as `data pack` reads it.
  auto again = as_record_source(set);
  shard::SourceRecord record;
  std::size_t n = 0;
  while (again->next(record)) {
    EXPECT_EQ(record.key, samples[n].key);
    EXPECT_EQ(to_bytes(record.payload), samples[n].payload);
    ++n;
  }
  EXPECT_EQ(n, samples.size());
}

TEST(TfRecordSet, RoundTripU8) {
  expect_round_trip({SampleDType::u8, {1, 5, 7}}, 500);
}
TEST(TfRecordSet, RoundTripF32) {
  expect_round_trip({SampleDType::f32, {3, 4}}, 300);
}

TEST(TfRecordSet, WithoutKeysTheKeyIsThePosition) {
  testing::TempDir dir;
  const SampleSpec spec{SampleDType::i8, {6}};
  VectorSource source(spec, make_samples(spec, 20, 3));
  TfRecordSchema schema = schema_for(spec);
  schema.key.clear();
  write_tfrecord(dir / "k.tfrecord", source, schema);
  auto set = TfRecordSet::open(dir / "k.tfrecord", schema_for(spec));  // looks for "key"; none
  auto reader = set->open_reader();
  for (std::uint64_t i = 0; i < 20; ++i) EXPECT_EQ(reader->read(i).key, i);
}

TEST(TfRecordSet, FolderOfFilesInNameOrder) {
  testing::TempDir dir;
  const SampleSpec spec{SampleDType::u8, {4}};
  const auto samples = make_samples(spec, 30, 5);
  TfRecordSchema schema = schema_for(spec);
  schema.key.clear();
  // Written out of name order; the set reads them in name order.
  const std::vector<std::pair<std::string, std::pair<int, int>>> parts = {
      {"train.tfrecord-00002-of-00003", {20, 30}},
      {"train.tfrecord-00000-of-00003", {0, 12}},
      {"train.tfrecord-00001-of-00003", {12, 20}}};
  for (const auto& [name, range] : parts) {
    VectorSource source(
        spec, std::vector<Sample>(samples.begin() + range.first, samples.begin() + range.second));
    write_tfrecord(dir / name, source, schema);
  }
  write_file(dir / "train.tfrecord-empty", {});
  write_file(dir / "README.txt", text("not a record file"));
  write_file(dir / ".hidden.tfrecord", text("ignored"));

  auto set = TfRecordSet::open(dir.path(), schema);
  EXPECT_EQ(set->files().size(), 4u);
  EXPECT_EQ(set->files()[0].filename(), "train.tfrecord-00000-of-00003");
  ASSERT_EQ(set->size(), 30u);
  auto reader = set->open_reader();
  for (std::uint64_t i : {29, 0, 12, 11, 19, 20, 5}) {
    const RecordRef r = reader->read(i);
    EXPECT_EQ(r.key, i);  // positions in the set: unique across its files
    EXPECT_EQ(r.label, samples[i].label);
    EXPECT_EQ(to_bytes(r.payload), samples[i].payload);
  }
  EXPECT_THROW(reader->read(30), Error);

  testing::TempDir empty;
  expect_format_error([&] { TfRecordSet::open(empty.path(), schema); },
                      {empty.path().string(), "no .tfrecord files"});
  expect_format_error([&] { TfRecordSet::open(empty / "nothing.tfrecord", schema); },
                      {(empty / "nothing.tfrecord").string(), "cannot open"});
}

TEST(TfRecordSet, WriteChecksTheSpec) {
  testing::TempDir dir;
  const SampleSpec spec{SampleDType::u8, {4}};
  VectorSource source(spec, make_samples(spec, 3, 1));
  EXPECT_THROW(write_tfrecord(dir / "x.tfrecord", source, schema_for({SampleDType::u8, {5}})),
               Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "x.tfrecord"));
  EXPECT_FALSE(std::filesystem::exists(dir / "x.tfrecord.tmp"));
}

// ---- corruption ----

struct Written {
  std::filesystem::path file;
  Bytes bytes;
  std::vector<std::uint64_t> offsets;  // of each record, then the end
};

Written write_samples(const testing::TempDir& dir, const SampleSpec& spec, int count) {
  Written w{dir / "c.tfrecord", {}, {}};
  VectorSource source(spec, make_samples(spec, count, 11));
  write_tfrecord(w.file, source, schema_for(spec));
  w.bytes = read_file(w.file);
  w.offsets = TfRecordFile(w.file).scan();
  return w;
}

TEST(TfRecordCorruption, DataCrcCaughtWhenTheRecordIsRead) {
  testing::TempDir dir;
  const SampleSpec spec{SampleDType::u8, {8}};
  const Written w = write_samples(dir, spec, 5);
  // A data byte, then a byte of the data CRC itself, of record 3.
  for (const std::uint64_t at : {w.offsets[3] + 12 + 5, w.offsets[4] - 2}) {
    Bytes bad = w.bytes;
    bad[at] ^= 0x10;
    write_file(w.file, bad);
    auto set = TfRecordSet::open(w.file, schema_for(spec));  // the scan reads no data
    auto reader = set->open_reader();
    for (std::uint64_t i : {0, 1, 2, 4}) EXPECT_NO_THROW(reader->read(i));
    expect_format_error([&] { reader->read(3); },
                        {w.file.string(), at_byte(w.offsets[3]), "data CRC mismatch"});
  }
}

TEST(TfRecordCorruption, LengthCrcCaughtAtOpen) {
  testing::TempDir dir;
  const SampleSpec spec{SampleDType::u8, {8}};
  const Written w = write_samples(dir, spec, 5);
  // A length byte, then a byte of the length CRC, of record 2.
  for (const std::uint64_t at : {w.offsets[2], w.offsets[2] + 9}) {
    Bytes bad = w.bytes;
    bad[at] ^= 0x01;
    write_file(w.file, bad);
    expect_format_error(
        [&] { TfRecordSet::open(w.file, schema_for(spec)); },
        {w.file.string(), "record at byte " + std::to_string(w.offsets[2]), "length CRC mismatch"});
  }
}

TEST(TfRecordCorruption, TruncatedAtEveryByteOfTheLastRecord) {
  testing::TempDir dir;
  const SampleSpec spec{SampleDType::u8, {3}};
  const Written w = write_samples(dir, spec, 4);
  const std::uint64_t last = w.offsets[3];
  for (std::uint64_t cut = last + 1; cut < w.bytes.size(); ++cut) {
    write_file(w.file, Bytes(w.bytes.begin(), w.bytes.begin() + static_cast<std::ptrdiff_t>(cut)));
    SCOPED_TRACE("cut at byte " + std::to_string(cut));
    expect_format_error([&] { TfRecordSet::open(w.file, schema_for(spec)); },
                        {w.file.string(), at_byte(last), "cut", "truncated?"});
  }
  // Cut exactly between records: a shorter, valid file.
  write_file(w.file, Bytes(w.bytes.begin(), w.bytes.begin() + static_cast<std::ptrdiff_t>(last)));
  EXPECT_EQ(TfRecordSet::open(w.file, schema_for(spec))->size(), 3u);
}

TEST(TfRecordCorruption, CompressedFilesAreNamed) {
  testing::TempDir dir;
  testing::write_bytes(dir / "z.tfrecord", Bytes(100, 7), /*gzip=*/true);
  expect_format_error([&] { TfRecordSet::open(dir / "z.tfrecord", schema_for(u8_2x2())); },
                      {(dir / "z.tfrecord").string(), at_byte(8), "gzip-compressed"});
}

TEST(TfRecordCorruption, WrongFeatures) {
  testing::TempDir dir;
  const Bytes image = bytes_feature({{1, 2, 3, 4}});
  const Bytes label = int64_feature({1});
  struct Case {
    Bytes record;
    std::string feature;  // named in the message, with what was found
    std::string found;
  };
  const std::vector<Case> cases = {
      {example({entry("label", label)}), "\"image\"", "missing"},
      {example({entry("image", int64_feature({1, 2, 3, 4})), entry("label", label)}), "\"image\"",
       "int64_list, expected bytes_list"},
      {example({entry("image", bytes_feature({{1, 2, 3}})), entry("label", label)}), "\"image\"",
       "value of 3 bytes, expected 4"},
      {example({entry("image", bytes_feature({{1, 2}, {3, 4}})), entry("label", label)}),
       "\"image\"", "bytes_list of 2 values"},
      {example({entry("image", float_feature({1, 2, 3, 4})), entry("label", label)}), "\"image\"",
       "float_list only for f32 samples"},
      {example({entry("image", Bytes{}), entry("label", label)}), "\"image\"",
       "a feature with no list"},
      {example({entry("image", image)}), "\"label\"", "missing"},
      {example({entry("image", image), entry("label", bytes_feature({{1}}))}), "\"label\"",
       "bytes_list, expected int64_list"},
      {example({entry("image", image), entry("label", int64_feature({1, 2}))}), "\"label\"",
       "int64_list of 2 values"},
      {example({entry("image", image), entry("label", int64_feature({10}))}), "\"label\"",
       "label 10 outside 0..9"},
      {example({entry("image", image), entry("label", int64_feature({-1}))}), "\"label\"",
       "label -1 outside 0..9"},
      {example({entry("image", image), entry("label", label), entry("key", float_feature({1}))}),
       "\"key\"", "float_list, expected int64_list"},
      {Bytes{0xff, 0xff, 0xff}, "tf.train.Example", "protobuf parse failed"},
  };
  std::vector<Bytes> records;
  for (const auto& c : cases) records.push_back(c.record);
  auto set = set_of(dir / "bad.tfrecord", records, schema_for(u8_2x2()));
  const auto offsets = TfRecordFile(dir / "bad.tfrecord").scan();
  auto reader = set->open_reader();
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    expect_format_error([&] { reader->read(i); },
                        {(dir / "bad.tfrecord").string(), at_byte(offsets[i]),
                         "record " + std::to_string(i), cases[i].feature, cases[i].found});
  }

  // Float lists of the wrong length for f32 samples.
  auto f32 = set_of(dir / "f32.tfrecord",
                    {example({entry("image", float_feature({1, 2, 3})), entry("label", label)})},
                    schema_for({SampleDType::f32, {2, 2}}));
  expect_format_error([&] { f32->open_reader()->read(0); },
                      {"\"image\"", "float_list of 3 values, expected 4"});

  // Labels must fit the RecordRef's int32 when the metadata gives no class count.
  TfRecordSchema open = schema_for(u8_2x2());
  open.metadata = nlohmann::json::object();
  auto wide =
      set_of(dir / "wide.tfrecord",
             {example({entry("image", image), entry("label", int64_feature({1LL << 40}))})}, open);
  expect_format_error([&] { wide->open_reader()->read(0); }, {"does not fit in int32"});
}

}  // namespace
}  // namespace tb::data
