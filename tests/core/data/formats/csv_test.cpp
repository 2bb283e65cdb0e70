#include "core/data/formats/csv.h"

#include <gtest/gtest.h>

#include <charconv>
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

void save(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file, std::ios::binary) << text;
}

std::vector<float> floats(const RecordRef& r) {
  std::vector<float> v(r.payload.size() / 4);
  std::memcpy(v.data(), r.payload.data(), r.payload.size());
  return v;
}

TEST(Csv, FloatsRoundTripBitForBit) {
  TempDir dir;
  const SampleSpec spec{SampleDType::f32, {6}};
  const auto records = make_records(spec, 250, 3, false);
  std::string text = "id,a,b,label,c,d,e,f\n";
  for (const auto& r : records) {
    float v[6];
    std::memcpy(v, r.payload.data(), sizeof v);
    auto number = [](float x) {
      char buffer[32];
      const auto end = std::to_chars(buffer, buffer + sizeof buffer, x).ptr;
      return std::string(buffer, end);
    };
    text += std::to_string(r.key) + "," + number(v[0]) + "," + number(v[1]) + "," +
            std::to_string(r.label) + "," + number(v[2]) + "," + number(v[3]) + "," + number(v[4]) +
            "," + number(v[5]) + "\n";
  }
  save(dir / "t.csv", text);
  CsvOptions options;
  options.key_column = "id";
  CsvRecordSet set(dir / "t.csv", options);
  EXPECT_EQ(set.spec(), spec);
  EXPECT_EQ(set.name(), "t.csv");
  EXPECT_EQ(set.metadata()["feature_names"], nlohmann::json({"a", "b", "c", "d", "e", "f"}));
  EXPECT_FALSE(set.metadata().contains("normalize"));
  EXPECT_FALSE(set.metadata().contains("class_names"));
  expect_records(set, records);
  expect_records_in_two_threads(set, records);
}

TEST(Csv, QuotedFieldsAndClassNamesInSortedOrder) {
  TempDir dir;
  save(dir / "q.csv",
       "\xEF\xBB\xBF"
       "x, \"y, the second\",species\r\n"
       "1.5,2,\"virginica\"\r\n"
       "\r\n"
       "  -3 ,\"4e-1\",\"set\"\"osa, \"\"quoted\"\"\nand two lines\"\r\n"
       "7,8,versicolor\r\n"
       "9,10,virginica");
  CsvOptions options;
  options.label_column = "species";
  CsvRecordSet set(dir / "q.csv", options);
  ASSERT_EQ(set.size(), 4u);
  EXPECT_EQ(set.metadata()["classes"], 3);
  const std::string odd = "set\"osa, \"quoted\"\nand two lines";
  EXPECT_EQ(set.metadata()["class_names"], nlohmann::json({odd, "versicolor", "virginica"}));
  EXPECT_EQ(set.metadata()["feature_names"], nlohmann::json({"x", "y, the second"}));
  auto reader = set.open_reader();
  EXPECT_EQ(reader->read(0).label, 2);
  EXPECT_EQ(floats(reader->read(0)), (std::vector<float>{1.5f, 2.f}));
  EXPECT_EQ(reader->read(1).label, 0);
  EXPECT_EQ(floats(reader->read(1)), (std::vector<float>{-3.f, 0.4f}));
  EXPECT_EQ(reader->read(2).key, 2u);
  EXPECT_EQ(reader->read(2).label, 1);

  // Only the features asked for, in the order asked.
  options.feature_columns = {"y, the second", "x"};
  options.metadata = {{"class_names", {"a", "b", "c"}}};
  CsvRecordSet some(dir / "q.csv", options);
  EXPECT_EQ(some.metadata()["class_names"], nlohmann::json({"a", "b", "c"}));
  EXPECT_EQ(floats(some.open_reader()->read(1)), (std::vector<float>{0.4f, -3.f}));
}

TEST(Csv, MalformedRowsNameTheLineAndColumn) {
  TempDir dir;
  const auto file = dir / "bad.csv";
  const std::string name = file.string();
  auto check = [&](const std::string& text, std::initializer_list<std::string> parts,
                   CsvOptions options = {}) {
    save(file, text);
    expect_format_error([&] { CsvRecordSet set(file, options); }, parts);
  };
  check("a,b,label\n1,2,0\n3,x4,1\n", {name, "line 3, column 2 ('b')", "\"x4\" is not a number"});
  check("a,b,label\n1,\"multi\nline\",0\n3,,1\n",
        {name, "line 2, column 2 ('b')", "\"multi\nline\" is not a number"});
  check("a,b,label\n1,2,\"zero\nlabel\"\n3,,one\n", {name, "line 4, column 2 ('b')", "empty cell"});
  check("a,b,label\n1,2,0\n3,4\n", {name, "line 3", "2 fields, the header has 3"});
  check("a,b,label\n1,2,0,9\n", {name, "line 2", "4 fields"});
  check("a,b,label\n1,\"2,0\n3,4,1\n", {name, "line 2, column 2", "never ends"});
  check("a,b,label\n1,\"2\"x,0\n", {name, "line 2, column 2", "text after a closing quote"});
  check("a,b,label\n1,2\",0\n", {name, "line 2, column 2", "quote inside an unquoted field"});
  check("a,b,class\n1,2,0\n", {name, "line 1", "no label column 'label'", "'class'"});
  check("a,a,label\n1,2,0\n", {name, "line 1, column 2", "repeats column 1"});
  check("label\n1\n", {name, "no feature columns"});
  check("", {name, "no header row"});
  check("a,label\n1,0\n2,-1\n", {name, "line 3, column 2 ('label')", "label -1"});
  check("a,label\n1,0\n2,  \n", {name, "line 3, column 2 ('label')", "empty label"});
  CsvOptions keyed;
  keyed.key_column = "id";
  check("id,a,label\n5,1,0\n6,1,0\n5,1,0\n",
        {name, "line 4, column 1 ('id')", "repeats the key of line 2"}, keyed);
  check("id,a,label\n5,1,0\n-6,1,0\n", {name, "line 3, column 1 ('id')", "\"-6\""}, keyed);
  keyed.metadata = {{"classes", 1}};
  check("id,a,label\n5,1,0\n6,1,3\n", {name, "\"classes\": 1", "largest label 3"}, keyed);
  expect_format_error([&] { CsvRecordSet set(dir / "absent.csv"); }, {"absent.csv"});
}

// Any byte of a small table changed or cut: the set opens and reads, or throws FormatError.
TEST(Csv, FlippedBytesNeverCrash) {
  TempDir dir;
  const std::string good =
      "id,\"a\",b,label\n1,0.5,\"2\",cat\n2,-1,3e2,dog\r\n3,\"4\",5,\"c\"\"at\"\n";
  const char alphabet[] = ",\"\n\r x0.-e9";
  std::mt19937 rng(5);
  CsvOptions options;
  options.key_column = "id";
  for (int round = 0; round < 500; ++round) {
    std::string text = good;
    for (int k = 0; k < 2; ++k) text[rng() % text.size()] = alphabet[rng() % (sizeof alphabet - 1)];
    if (rng() % 4 == 0) text.resize(rng() % text.size());
    save(dir / "f.csv", text);
    try {
      CsvRecordSet set(dir / "f.csv", options);
      auto reader = set.open_reader();
      for (std::uint64_t i = 0; i < set.size(); ++i) reader->read(i);
    } catch (const FormatError&) {
    }
  }
}

}  // namespace
}  // namespace tb::data
