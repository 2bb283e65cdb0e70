#include "core/trace/kernel_table.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <unordered_map>
#include <utility>

namespace tb::trace {
namespace {

// The launch parameters of one span's args; what is absent stays nullopt.
struct LaunchArgs {
  std::optional<Dim3> grid;
  std::optional<Dim3> block;
  std::optional<std::int64_t> registers;
  std::optional<std::int64_t> shared;
  std::optional<double> occupancy;
};

enum class Field : std::uint8_t { none, grid, block, registers, shared, occupancy };

Field field_of(std::string_view key) {
  if (key == "grid") return Field::grid;
  if (key == "block") return Field::block;
  if (key == "registers per thread") return Field::registers;
  if (key == "shared memory") return Field::shared;
  if (key == "est. occupancy %" || key == "est. achieved occupancy %") return Field::occupancy;
  return Field::none;
}

// Reads only the few top-level members the table needs, skipping the rest without building
// anything. Not nlohmann::json: a CUPTI trace has one args object per kernel (each with its own
// correlation id), and on 100k of them nlohmann's SAX parse took about three times as long as
// this scan, its DOM parse about nine times, while the rest of the table is next to nothing.
// Members it skips are only checked for balanced brackets and closed strings; args that do not
// scan are treated as absent.
class LaunchArgsScanner {
 public:
  explicit LaunchArgsScanner(std::string_view text) : s_(text) {}

  std::optional<LaunchArgs> scan() {
    LaunchArgs args;
    if (!skip_ws() || s_[i_] != '{') return std::nullopt;
    ++i_;
    if (!skip_ws()) return std::nullopt;
    if (s_[i_] == '}') return finish(args);
    while (true) {
      std::string_view key;
      if (!skip_ws() || !string(&key) || !skip_ws() || s_[i_] != ':') return std::nullopt;
      ++i_;
      if (!skip_ws() || !member(field_of(key), args) || !skip_ws()) return std::nullopt;
      if (s_[i_] == '}') return finish(args);
      if (s_[i_] != ',') return std::nullopt;
      ++i_;
    }
  }

 private:
  std::optional<LaunchArgs> finish(const LaunchArgs& args) {
    ++i_;
    return skip_ws() ? std::nullopt : std::optional<LaunchArgs>(args);  // nothing may follow
  }

  static std::optional<std::int64_t> whole(std::optional<double> v) {
    if (!v || !std::isfinite(*v) || *v != std::floor(*v)) return std::nullopt;
    return static_cast<std::int64_t>(*v);
  }

  bool member(Field field, LaunchArgs& args) {
    switch (field) {
      case Field::grid:
      case Field::block:
        if (s_[i_] == '[') return dims(field == Field::grid ? args.grid : args.block);
        return skip_value();
      case Field::registers:
      case Field::shared:
      case Field::occupancy: {
        std::optional<double> v;
        if (!value(&v)) return false;
        if (field == Field::registers) args.registers = whole(v);
        if (field == Field::shared) args.shared = whole(v);
        if (field == Field::occupancy && v && std::isfinite(*v)) args.occupancy = v;
        return true;
      }
      case Field::none:
        break;
    }
    return skip_value();
  }

  // [x, y, z] of whole numbers; anything else leaves `out` unknown.
  bool dims(std::optional<Dim3>& out) {
    ++i_;  // '['
    Dim3 d{};
    int n = 0;
    bool ok = true;
    if (!skip_ws()) return false;
    if (s_[i_] != ']') {
      while (true) {
        std::optional<double> v;
        if (!skip_ws() || !value(&v)) return false;
        const auto w = whole(v);
        if (w && n < 3) d[static_cast<std::size_t>(n)] = *w;
        ok = ok && w.has_value();
        ++n;
        if (!skip_ws()) return false;
        if (s_[i_] == ']') break;
        if (s_[i_] != ',') return false;
        ++i_;
      }
    }
    ++i_;  // ']'
    out = ok && n == 3 ? std::optional<Dim3>(d) : std::nullopt;
    return true;
  }

  // Any value; `out` gets it when it is a number.
  bool value(std::optional<double>* out) {
    *out = std::nullopt;
    const char c = s_[i_];
    if (c == '-' || (c >= '0' && c <= '9')) {
      double v = 0.0;
      const auto [end, error] = std::from_chars(s_.data() + i_, s_.data() + s_.size(), v);
      if (error != std::errc{}) return false;
      i_ = static_cast<std::size_t>(end - s_.data());
      *out = v;
      return true;
    }
    return skip_value();
  }

  bool skip_value() {
    const char c = s_[i_];
    if (c == '"') return string(nullptr);
    if (c == '{' || c == '[') {
      int depth = 0;
      while (i_ < s_.size()) {
        const char d = s_[i_];
        if (d == '"') {
          if (!string(nullptr)) return false;
          continue;
        }
        if (d == '{' || d == '[') ++depth;
        if ((d == '}' || d == ']') && --depth == 0) {
          ++i_;
          return true;
        }
        ++i_;
      }
      return false;
    }
    // A number or a literal: up to the next delimiter.
    const std::size_t begin = i_;
    while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' && !space(s_[i_])) {
      ++i_;
    }
    return i_ > begin;
  }

  // A string, its text as written (escapes left in: the keys looked for have none).
  bool string(std::string_view* out) {
    if (s_[i_] != '"') return false;
    const std::size_t begin = ++i_;
    while (i_ < s_.size() && s_[i_] != '"') i_ += s_[i_] == '\\' ? 2 : 1;
    if (i_ >= s_.size()) return false;
    if (out != nullptr) *out = s_.substr(begin, i_ - begin);
    ++i_;
    return true;
  }

  static bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  // Past white space; false at the end of the text.
  bool skip_ws() {
    while (i_ < s_.size() && space(s_[i_])) ++i_;
    return i_ < s_.size();
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

LaunchArgs read_launch_args(std::string_view text) {
  if (text.empty()) return {};
  // Malformed args (not written by this project's importers) count as none rather than half.
  return LaunchArgsScanner(text).scan().value_or(LaunchArgs{});
}

// How often each value occurs, remembering which came first so that ties are decided the same
// way on every run.
template <class T>
class Tally {
 public:
  void add(const T& value) {
    auto [it, fresh] = counts_.try_emplace(value, Entry{0, next_});
    if (fresh) ++next_;
    ++it->second.count;
  }
  std::optional<T> mode() const {
    const std::pair<const T, Entry>* best = nullptr;
    for (const auto& entry : counts_) {
      if (best == nullptr || entry.second.count > best->second.count ||
          (entry.second.count == best->second.count && entry.second.first < best->second.first)) {
        best = &entry;
      }
    }
    return best ? std::optional<T>(best->first) : std::nullopt;
  }
  std::size_t distinct() const { return counts_.size(); }

 private:
  struct Entry {
    std::int64_t count = 0;
    std::int64_t first = 0;
  };
  std::map<T, Entry> counts_;
  std::int64_t next_ = 0;
};

using Config = std::pair<Dim3, Dim3>;

struct Accumulator {
  KernelRow row;
  Tally<Config> configs;
  Tally<std::int64_t> registers;
  Tally<std::int64_t> shared;
  double occupancy_sum = 0.0;
  std::vector<std::int64_t> steps;  // appended when it changes; made distinct at the end
};

std::uint64_t key_of(NameId name, Category category) {
  return (static_cast<std::uint64_t>(name.value) << 8) | static_cast<std::uint64_t>(category);
}

bool counted(const Trace& trace, const Span& span, const KernelTableOptions& options) {
  switch (span.category) {
    case Category::kernel:
      return true;
    case Category::communication:
      return span.track.valid() && trace.track(span.track).kind == TrackKind::gpu_stream;
    case Category::memcpy:
    case Category::memset:
      return options.include_copies;
    default:
      return false;
  }
}

bool groups(Category category) {
  return category == Category::kernel || category == Category::communication;
}

}  // namespace

std::string kernel_group_name(std::string_view name) {
  constexpr std::string_view kAnonymous = "(anonymous namespace)";
  std::string out;
  out.reserve(name.size());
  int depth = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (depth == 0 && name.substr(i).starts_with(kAnonymous)) {
      out += kAnonymous;
      i += kAnonymous.size() - 1;
    } else if (c == '<' || c == '(') {
      ++depth;
    } else if (c == ')' || (c == '>' && (i == 0 || name[i - 1] != '-'))) {
      depth = std::max(depth - 1, 0);
    } else if (depth == 0) {
      out += c;
    }
  }
  const auto first = out.find_first_not_of(' ');
  if (first == std::string::npos) return std::string(name);
  out.erase(out.find_last_not_of(' ') + 1);
  out.erase(0, first);
  // CUDA kernels return void; the demangled name says so first.
  if (out.starts_with("void ") && out.size() > 5) out.erase(0, out.find_first_not_of(' ', 5));
  return out;
}

std::vector<KernelRow> kernel_table(const Trace& trace, KernelTableOptions options) {
  const auto& spans = trace.spans();
  std::vector<LaunchArgs> parsed(trace.args_count());
  std::vector<bool> is_parsed(trace.args_count(), false);
  std::vector<Accumulator> rows;
  std::unordered_map<std::uint64_t, std::size_t> row_of;   // (name, category) -> rows index
  std::unordered_map<std::string, std::size_t> group_row;  // group name + category -> rows index

  for (std::size_t i = 0; i < spans.size(); ++i) {
    const Span& span = spans[i];
    if (!counted(trace, span, options)) continue;
    const auto [it, fresh] = row_of.try_emplace(key_of(span.name, span.category), rows.size());
    if (fresh) {
      const std::string_view name = trace.name(span.name);
      std::string row_name(name);
      if (options.group_templates && groups(span.category)) {
        row_name = kernel_group_name(name);
        std::string key = row_name;
        key += '\0';
        key += static_cast<char>(span.category);
        const auto [group, new_group] = group_row.try_emplace(std::move(key), rows.size());
        it->second = group->second;
        if (!new_group) ++rows[group->second].row.names;
      }
      if (it->second == rows.size()) {
        rows.emplace_back();
        rows.back().row.name = std::move(row_name);
        rows.back().row.category = span.category;
      }
    }
    Accumulator& acc = rows[it->second];
    KernelRow& row = acc.row;
    const std::int64_t duration = span.end_ns - span.start_ns;
    if (row.count == 0 || duration > row.max_ns) {
      row.max_ns = duration;
      row.longest_span = i;
    }
    row.min_ns = row.count == 0 ? duration : std::min(row.min_ns, duration);
    ++row.count;
    row.total_ns += duration;
    if (span.step != 0 && (acc.steps.empty() || acc.steps.back() != span.step)) {
      acc.steps.push_back(span.step);
    }

    if (!span.args.valid()) continue;
    const auto a = static_cast<std::size_t>(span.args.value - 1);
    if (a >= parsed.size()) continue;
    if (!is_parsed[a]) {
      parsed[a] = read_launch_args(trace.args(span.args));
      is_parsed[a] = true;
    }
    const LaunchArgs& args = parsed[a];
    if (args.grid && args.block) acc.configs.add({*args.grid, *args.block});
    if (args.registers) acc.registers.add(*args.registers);
    if (args.shared) acc.shared.add(*args.shared);
    if (args.occupancy) {
      acc.occupancy_sum += *args.occupancy;
      ++row.occupancy_samples;
    }
  }

  std::int64_t all_ns = 0;
  for (const Accumulator& acc : rows) all_ns += acc.row.total_ns;
  std::vector<KernelRow> table;
  table.reserve(rows.size());
  for (Accumulator& acc : rows) {
    KernelRow& row = acc.row;
    row.mean_ns = static_cast<double>(row.total_ns) / static_cast<double>(row.count);
    row.share = all_ns > 0 ? static_cast<double>(row.total_ns) / static_cast<double>(all_ns) : 0.0;
    if (const auto config = acc.configs.mode()) {
      row.grid = config->first;
      row.block = config->second;
    }
    row.distinct_configs = static_cast<std::int64_t>(acc.configs.distinct());
    row.config_varies = row.distinct_configs > 1;
    row.registers_per_thread = acc.registers.mode();
    row.shared_memory_bytes = acc.shared.mode();
    if (row.occupancy_samples > 0) {
      row.occupancy_pct = acc.occupancy_sum / static_cast<double>(row.occupancy_samples);
    }
    std::sort(acc.steps.begin(), acc.steps.end());
    row.steps = std::unique(acc.steps.begin(), acc.steps.end()) - acc.steps.begin();
    table.push_back(std::move(row));
  }
  std::sort(table.begin(), table.end(), [](const KernelRow& a, const KernelRow& b) {
    if (a.total_ns != b.total_ns) return a.total_ns > b.total_ns;
    if (a.name != b.name) return a.name < b.name;
    return a.category < b.category;
  });
  return table;
}

}  // namespace tb::trace
