// CSV input format: a table with a header row; each further row is one sample.
//
// One column is the label, chosen by name. When every label cell is an integer, labels are those
// class ids (each 0 .. 2^31-1). Otherwise every label cell is a class name: the distinct names
// sorted by their bytes become ids 0, 1, ... and the metadata's "class_names" in that order (so
// the same set of names always gets the same ids, whatever the row order). An optional key
// column (non-negative integers, unique) gives the keys; without one a record's key is its row's
// position (0 for the first data row). Every other column (or only those named in
// feature_columns) is a feature: the sample is f32 [features], the cells parsed as decimal
// numbers ("1.5", "-2e-3", "nan", "inf"; spaces around them are ignored).
//
// Fields follow RFC 4180: separated by the delimiter, rows ending in LF or CRLF, a field in
// double quotes may hold delimiters, line breaks and "" for a quote. A UTF-8 byte-order mark
// before the header is skipped; empty lines are skipped. A row with the wrong number of fields,
// an empty or non-numeric feature cell, a bad quote, a bad key or label throws tb::FormatError
// naming the file, the line number (1-based, of the line where the row starts) and the column.
//
// CSV cannot be read by position without an index of its line offsets, and its rows are small:
// the whole table is parsed when the set opens and readers hand out rows from memory.
//
// Metadata: "name", "classes" (largest label + 1, or the number of class names), "class_names"
// when labels are names, "feature_names" (the feature columns in order), then the caller's
// overrides key by key. f32 samples carry no "normalize".
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/record_set.h"

namespace tb::data {

struct CsvOptions {
  std::string label_column = "label";
  std::string key_column;                    // empty: keys are row positions
  std::vector<std::string> feature_columns;  // empty: every column but the label and key
  char delimiter = ',';
  nlohmann::json metadata = nlohmann::json::object();  // overrides, key by key
};

class CsvRecordSet final : public RecordSet {
 public:
  // Parses the whole file. Throws tb::FormatError as described above.
  explicit CsvRecordSet(const std::filesystem::path& file, CsvOptions options = {});
  ~CsvRecordSet() override;

  std::string name() const override;  // the file's name
  SampleSpec spec() const override;   // f32 [number of features]
  nlohmann::json metadata() const override;
  std::uint64_t size() const override;
  std::unique_ptr<RecordReader> open_reader() const override;

  struct State;

 private:
  std::shared_ptr<const State> state_;
};

}  // namespace tb::data
