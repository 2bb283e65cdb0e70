#include "core/data/formats/csv.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string_view>
#include <utility>

#include "core/data/formats/array_support.h"
#include "core/util/error.h"

namespace tb::data {
namespace {

struct Row {
  std::vector<std::string> fields;
  std::uint64_t line = 0;  // where the row starts, 1-based
};

// RFC 4180 rows from the whole text.
class RowParser {
 public:
  RowParser(std::string_view text, char delimiter, const std::filesystem::path& file)
      : text_(text), delimiter_(delimiter), file_(file) {
    if (text_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
  }

  // The next row, false at the end; empty lines are skipped.
  bool next(Row& row) {
    while (pos_ < text_.size() && (text_[pos_] == '\n' || text_.substr(pos_, 2) == "\r\n")) {
      pos_ += text_[pos_] == '\n' ? 1 : 2;
      ++line_;
    }
    if (pos_ >= text_.size()) return false;
    row.fields.clear();
    row.line = line_;
    for (;;) {
      row.fields.push_back(field(row));
      if (pos_ >= text_.size()) return true;
      const char c = text_[pos_];
      if (c == delimiter_) {
        ++pos_;
        continue;
      }
      // field() stops only at a delimiter, a line end or the end.
      pos_ += c == '\n' ? 1 : 2;
      ++line_;
      return true;
    }
  }

 private:
  [[noreturn]] void fail(const Row& row, const std::string& what) const {
    detail::fail(
        file_,
        "line " + std::to_string(row.line) + ", column " + std::to_string(row.fields.size() + 1),
        what);
  }
  bool at_line_end() const {
    return pos_ >= text_.size() || text_[pos_] == '\n' || text_.substr(pos_, 2) == "\r\n";
  }

  std::string field(const Row& row) {
    std::string value;
    // Spaces before an opening quote (`a, "b"`) are common enough to accept.
    std::size_t quote = pos_;
    while (quote < text_.size() && (text_[quote] == ' ' || text_[quote] == '\t')) ++quote;
    if (quote < text_.size() && text_[quote] == '"') {
      pos_ = quote;
      ++pos_;
      for (;;) {
        if (pos_ >= text_.size()) {
          fail(row, "quoted field never ends (no closing quote before the end of the file)");
        }
        const char c = text_[pos_++];
        if (c == '"') {
          if (pos_ < text_.size() && text_[pos_] == '"') {
            value += '"';
            ++pos_;
            continue;
          }
          break;
        }
        if (c == '\n') ++line_;
        value += c;
      }
      while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
      if (!at_line_end() && text_[pos_] != delimiter_) {
        fail(row, "text after a closing quote (a quote inside a field is written \"\")");
      }
      return value;
    }
    const std::size_t start = pos_;
    while (!at_line_end() && text_[pos_] != delimiter_) {
      if (text_[pos_] == '"') {
        fail(row, "quote inside an unquoted field (quote the whole field and write \"\")");
      }
      ++pos_;
    }
    // A lone CR (not before LF) stays part of the field; CRLF ends the row.
    return std::string(text_.substr(start, pos_ - start));
  }

  std::string_view text_;
  char delimiter_;
  const std::filesystem::path& file_;
  std::size_t pos_ = 0;
  std::uint64_t line_ = 1;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

template <class T>
bool parse_number(std::string_view text, T& out) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

std::string cell_text(const std::string& cell) {
  return cell.size() > 40 ? "\"" + cell.substr(0, 40) + "...\"" : "\"" + cell + "\"";
}

}  // namespace

struct CsvRecordSet::State {
  std::filesystem::path file;
  SampleSpec spec;
  std::uint64_t count = 0;
  std::vector<float> features;  // count x spec.shape[0]
  std::vector<std::int32_t> labels;
  std::vector<std::uint64_t> keys;  // empty: keys are positions
  nlohmann::json metadata;
};

namespace {

class CsvReader final : public RecordReader {
 public:
  explicit CsvReader(std::shared_ptr<const CsvRecordSet::State> state) : state_(std::move(state)) {}

  RecordRef read(std::uint64_t position) override {
    const auto& s = *state_;
    if (position >= s.count) {
      throw FormatError(s.file.string() + ": row " + std::to_string(position) + " is outside the " +
                        std::to_string(s.count) + " rows");
    }
    const std::size_t width = s.spec.shape[0];
    RecordRef ref;
    ref.key = s.keys.empty() ? position : s.keys[position];
    ref.label = s.labels[position];
    ref.payload = std::as_bytes(std::span(s.features).subspan(position * width, width));
    return ref;
  }

 private:
  std::shared_ptr<const CsvRecordSet::State> state_;
};

}  // namespace

CsvRecordSet::CsvRecordSet(const std::filesystem::path& file, CsvOptions options) {
  auto state = std::make_shared<State>();
  state->file = file;
  std::string text;
  {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw FormatError(file.string() + ": cannot open for reading");
    std::ostringstream all;
    all << in.rdbuf();
    if (in.bad()) throw FormatError(file.string() + ": cannot read");
    text = std::move(all).str();
  }
  RowParser parser(text, options.delimiter, file);
  Row header;
  if (!parser.next(header)) detail::fail(file, "line 1", "no header row (the file is empty)");

  // Which column is what.
  std::map<std::string, std::size_t> by_name;
  for (std::size_t i = 0; i < header.fields.size(); ++i) {
    const std::string name(trim(header.fields[i]));
    const auto [it, fresh] = by_name.emplace(name, i);
    if (!fresh) {
      detail::fail(file,
                   "line " + std::to_string(header.line) + ", column " + std::to_string(i + 1),
                   "column name '" + name + "' repeats column " + std::to_string(it->second + 1));
    }
  }
  auto column = [&](const std::string& name, const std::string& role) {
    const auto it = by_name.find(name);
    if (it == by_name.end()) {
      std::string names;
      for (const auto& f : header.fields) names += (names.empty() ? "'" : ", '") + f + "'";
      detail::fail(file, "line " + std::to_string(header.line),
                   "no " + role + " column '" + name + "' in the header (it has " + names + ")");
    }
    return it->second;
  };
  const std::size_t label_column = column(options.label_column, "label");
  const std::size_t none = std::numeric_limits<std::size_t>::max();
  const std::size_t key_column =
      options.key_column.empty() ? none : column(options.key_column, "key");
  std::vector<std::size_t> feature_columns;
  std::vector<std::string> feature_names;
  if (options.feature_columns.empty()) {
    for (std::size_t i = 0; i < header.fields.size(); ++i) {
      if (i != label_column && i != key_column) feature_columns.push_back(i);
    }
  } else {
    for (const auto& name : options.feature_columns) {
      feature_columns.push_back(column(name, "feature"));
    }
  }
  for (std::size_t i : feature_columns) feature_names.emplace_back(trim(header.fields[i]));
  if (feature_columns.empty()) {
    detail::fail(file, "line " + std::to_string(header.line),
                 "no feature columns (the header has only the label and key columns)");
  }

  const std::size_t width = feature_columns.size();
  std::vector<std::string> label_cells;
  std::vector<std::uint64_t> lines;
  Row row;
  while (parser.next(row)) {
    auto where = [&](std::size_t col) {
      return "line " + std::to_string(row.line) + ", column " + std::to_string(col + 1) + " ('" +
             std::string(trim(header.fields[col])) + "')";
    };
    if (row.fields.size() != header.fields.size()) {
      detail::fail(file, "line " + std::to_string(row.line),
                   "row has " + std::to_string(row.fields.size()) + " fields, the header has " +
                       std::to_string(header.fields.size()));
    }
    for (std::size_t col : feature_columns) {
      float value = 0;
      if (!parse_number(row.fields[col], value)) {
        detail::fail(file, where(col),
                     trim(row.fields[col]).empty()
                         ? std::string("empty cell, expected a number")
                         : cell_text(row.fields[col]) + " is not a number");
      }
      state->features.push_back(value);
    }
    if (trim(row.fields[label_column]).empty()) {
      detail::fail(file, where(label_column), "empty label cell");
    }
    label_cells.emplace_back(trim(row.fields[label_column]));
    if (key_column != none) {
      std::uint64_t key = 0;
      if (!parse_number(row.fields[key_column], key)) {
        detail::fail(file, where(key_column),
                     "key " + cell_text(row.fields[key_column]) + " is not an integer 0 .. 2^64-1");
      }
      state->keys.push_back(key);
    }
    lines.push_back(row.line);
  }
  state->count = lines.size();
  state->spec.dtype = shard::SampleDType::f32;
  state->spec.shape = {static_cast<std::uint32_t>(width)};

  // Integer ids when every label is one, else class names.
  std::vector<std::int64_t> ids(label_cells.size());
  bool numeric = true;
  for (std::size_t i = 0; i < label_cells.size() && numeric; ++i) {
    numeric = parse_number(label_cells[i], ids[i]);
  }
  nlohmann::json stored = {{"feature_names", feature_names}};
  if (!numeric) {
    std::vector<std::string> names = label_cells;
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    for (std::size_t i = 0; i < label_cells.size(); ++i) {
      ids[i] = std::lower_bound(names.begin(), names.end(), label_cells[i]) - names.begin();
    }
    stored["class_names"] = names;
  }
  std::int32_t max_label = -1;
  try {
    max_label = detail::check_labels(ids, state->labels, file, "labels");
  } catch (const FormatError&) {
    // Say which line and column: the row index alone means little in a text file.
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] > std::numeric_limits<std::int32_t>::max()) {
        detail::fail(
            file,
            "line " + std::to_string(lines[i]) + ", column " + std::to_string(label_column + 1) +
                " ('" + options.label_column + "')",
            "label " + std::to_string(ids[i]) + " is not a class index (expected 0 .. 2^31-1)");
      }
    }
    throw;
  }
  if (!state->keys.empty()) {
    try {
      detail::check_unique_keys(state->keys, file, "keys");
    } catch (const FormatError&) {
      std::map<std::uint64_t, std::size_t> seen;
      for (std::size_t i = 0; i < state->keys.size(); ++i) {
        const auto [it, fresh] = seen.emplace(state->keys[i], i);
        if (!fresh) {
          detail::fail(file,
                       "line " + std::to_string(lines[i]) + ", column " +
                           std::to_string(key_column + 1) + " ('" + options.key_column + "')",
                       "key " + std::to_string(state->keys[i]) + " repeats the key of line " +
                           std::to_string(lines[it->second]) + " (keys must be unique)");
        }
      }
      throw;
    }
  }
  state->metadata = detail::build_metadata(file.filename().string(), state->spec.dtype, max_label,
                                           stored, options.metadata, file);
  state_ = std::move(state);
}

CsvRecordSet::~CsvRecordSet() = default;

std::string CsvRecordSet::name() const {
  return state_->file.filename().string();
}
SampleSpec CsvRecordSet::spec() const {
  return state_->spec;
}
nlohmann::json CsvRecordSet::metadata() const {
  return state_->metadata;
}
std::uint64_t CsvRecordSet::size() const {
  return state_->count;
}
std::unique_ptr<RecordReader> CsvRecordSet::open_reader() const {
  return std::make_unique<CsvReader>(state_);
}

}  // namespace tb::data
