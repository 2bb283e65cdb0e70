#include "core/trace/chrome_trace.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>
#include <vector>

#include "core/util/error.h"

namespace tb::trace {
namespace {

using json = nlohmann::json;

constexpr std::size_t kFlushBytes = 1 << 16;

std::string json_string(std::string_view text) {
  return json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

// A span's args with its step added: a splice of the stored text where it does not name a step
// already (no parse per span), a parse and rewrite where it does.
void append_args(std::string& out, std::string_view args, std::int64_t step) {
  const auto first = args.find_first_not_of(" \t\r\n");
  const bool object = first != std::string_view::npos && args[first] == '{';
  if (step == 0) {
    if (object) {
      out.append(args);
    } else if (!args.empty()) {
      out.append("{\"value\":").append(json_string(args)).append("}");  // not an object: kept
    }
    return;
  }
  if (!object) {
    out.append("{\"step\":").append(std::to_string(step));
    if (!args.empty()) out.append(",\"value\":").append(json_string(args));
    out.append("}");
    return;
  }
  if (args.find("\"step\"") != std::string_view::npos) {
    auto doc = nlohmann::ordered_json::parse(args, nullptr, false);
    if (doc.is_object()) {
      doc["step"] = step;
      out.append(doc.dump(-1, ' ', false, json::error_handler_t::replace));
      return;
    }
  }
  const auto rest = args.substr(first + 1);
  const auto next = rest.find_first_not_of(" \t\r\n");
  out.append("{\"step\":").append(std::to_string(step));
  if (next != std::string_view::npos && rest[next] != '}') out.push_back(',');
  out.append(rest);
}

// Buffers the text and hands it to `write` in large pieces.
class Writer {
 public:
  explicit Writer(const std::function<void(std::string_view)>& write) : write_(write) {}
  std::string& event() {
    buffer_.append(first_ ? "\n" : ",\n");
    first_ = false;
    return buffer_;
  }
  std::string& text() { return buffer_; }
  void maybe_flush() {
    if (buffer_.size() >= kFlushBytes) flush();
  }
  void flush() {
    if (!buffer_.empty()) write_(buffer_);
    buffer_.clear();
  }

 private:
  const std::function<void(std::string_view)>& write_;
  std::string buffer_;
  bool first_ = true;
};

struct Row {
  int pid = 0;
  int tid = 0;
};

}  // namespace

void append_micros(std::string& out, std::int64_t ns) {
  std::uint64_t magnitude = static_cast<std::uint64_t>(ns);
  if (ns < 0) {
    out.push_back('-');
    magnitude = ~magnitude + 1;  // two's complement: also right for INT64_MIN
  }
  out.append(std::to_string(magnitude / 1000));
  unsigned fraction = static_cast<unsigned>(magnitude % 1000);
  if (fraction == 0) return;
  char digits[4] = {static_cast<char>('0' + fraction / 100),
                    static_cast<char>('0' + fraction / 10 % 10),
                    static_cast<char>('0' + fraction % 10), '\0'};
  int length = 3;
  while (digits[length - 1] == '0') --length;
  out.push_back('.');
  out.append(digits, static_cast<std::size_t>(length));
}

void write_chrome_trace(const Trace& trace, const std::function<void(std::string_view)>& write,
                        const ChromeTraceOptions& options) {
  const auto& spans = trace.spans();
  const auto& tracks = trace.tracks();
  // Spans by start (a finish()ed trace already is; anything else is sorted through indexes).
  std::vector<std::size_t> order;
  const bool sorted = std::is_sorted(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.start_ns < b.start_ns;
  });
  if (!sorted) {
    order.resize(spans.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return spans[a].start_ns < spans[b].start_ns;
    });
  }
  const auto span_at = [&](std::size_t i) -> const Span& {
    return sorted ? spans[i] : spans[order[i]];
  };
  const auto valid_track = [&](TrackId id) {
    return id.valid() && static_cast<std::size_t>(id.value) <= tracks.size();
  };

  // Rows in the order their track's first span starts, then the tracks with none. Thread ids
  // start at 1 (some viewers hide tid 0); one pid per process name, in the same order.
  std::vector<std::size_t> track_order;
  std::vector<bool> placed(tracks.size(), false);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const TrackId id = span_at(i).track;
    if (!valid_track(id) || placed[static_cast<std::size_t>(id.value - 1)]) continue;
    placed[static_cast<std::size_t>(id.value - 1)] = true;
    track_order.push_back(static_cast<std::size_t>(id.value - 1));
  }
  for (std::size_t t = 0; t < tracks.size(); ++t) {
    if (!placed[t]) track_order.push_back(t);
  }
  const auto process_of = [&](const Track& track) -> const std::string& {
    return track.process.empty() ? options.default_process : track.process;
  };
  std::vector<Row> rows(tracks.size());
  std::map<std::string, int> pids;
  std::vector<const std::string*> processes;
  for (std::size_t i = 0; i < track_order.size(); ++i) {
    const Track& track = tracks[track_order[i]];
    const auto [it, added] =
        pids.try_emplace(process_of(track), static_cast<int>(processes.size()) + 1);
    if (added) processes.push_back(&it->first);
    rows[track_order[i]] = {it->second, static_cast<int>(i) + 1};
  }
  if (processes.empty()) {  // counters and an empty trace still get a named row group
    processes.push_back(&pids.try_emplace(options.default_process, 1).first->first);
  }

  Writer out(write);
  json other = trace.metadata.is_object() ? trace.metadata : json{{"metadata", trace.metadata}};
  json marker_tracks = json::array();
  for (std::size_t t = 0; t < tracks.size(); ++t) {
    marker_tracks.push_back({{"pid", rows[t].pid},
                             {"tid", rows[t].tid},
                             {"name", tracks[t].name},
                             {"process", tracks[t].process},
                             {"kind", track_kind_name(tracks[t].kind)},
                             {"rank", tracks[t].rank}});
  }
  json units = json::object();
  for (const auto& counter : trace.counters()) units[counter.name] = counter.unit;
  other[kExportMarker] = {{"format", 1}, {"tracks", marker_tracks}, {"counter_units", units}};
  out.text().append("{\"displayTimeUnit\": \"ms\", \"otherData\": ");
  out.text().append(other.dump(-1, ' ', false, json::error_handler_t::replace));
  out.text().append(", \"traceEvents\": [");

  for (std::size_t p = 0; p < processes.size(); ++p) {
    const int pid = static_cast<int>(p) + 1;
    out.event()
        .append(R"({"ph":"M","name":"process_name","pid":)")
        .append(std::to_string(pid))
        .append(R"(,"tid":0,"args":{"name":)")
        .append(json_string(*processes[p]))
        .append("}}");
    out.event()
        .append(R"({"ph":"M","name":"process_sort_index","pid":)")
        .append(std::to_string(pid))
        .append(R"(,"tid":0,"args":{"sort_index":)")
        .append(std::to_string(p))
        .append("}}");
  }
  for (std::size_t i = 0; i < track_order.size(); ++i) {
    const Row row = rows[track_order[i]];
    const std::string ids =
        ",\"pid\":" + std::to_string(row.pid) + ",\"tid\":" + std::to_string(row.tid);
    out.event()
        .append(R"({"ph":"M","name":"thread_name")")
        .append(ids)
        .append(R"(,"args":{"name":)")
        .append(json_string(tracks[track_order[i]].name))
        .append("}}");
    out.event()
        .append(R"({"ph":"M","name":"thread_sort_index")")
        .append(ids)
        .append(R"(,"args":{"sort_index":)")
        .append(std::to_string(i))
        .append("}}");
  }

  std::vector<std::string> names;  // each name's JSON text, made once
  const auto name_text = [&](NameId id) -> const std::string& {
    const auto index = static_cast<std::size_t>(id.value);
    if (index >= names.size()) names.resize(index + 1);
    if (names[index].empty()) names[index] = json_string(id.valid() ? trace.name(id) : "");
    return names[index];
  };
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const Span& span = span_at(i);
    if (!valid_track(span.track)) continue;
    const Row row = rows[static_cast<std::size_t>(span.track.value - 1)];
    std::string& e = out.event();
    e.append(R"({"ph":"X","cat":")").append(category_name(span.category));
    e.append(R"(","name":)").append(name_text(span.name));
    e.append(",\"pid\":").append(std::to_string(row.pid));
    e.append(",\"tid\":").append(std::to_string(row.tid));
    e.append(",\"ts\":");
    append_micros(e, span.start_ns);
    e.append(",\"dur\":");
    append_micros(e, std::max<std::int64_t>(0, span.end_ns - span.start_ns));
    const std::string_view args = trace.args(span.args);
    if (!args.empty() || span.step != 0) {
      e.append(",\"args\":");
      append_args(e, args, span.step);
    }
    e.push_back('}');
    out.maybe_flush();
  }

  for (const auto& flow : trace.flows()) {
    if (!valid_track(flow.from_track) || !valid_track(flow.to_track)) continue;
    const auto end = [&](const char* ph, TrackId track, std::int64_t ns) {
      const Row row = rows[static_cast<std::size_t>(track.value - 1)];
      std::string& e = out.event();
      e.append(R"({"ph":")").append(ph).append(R"(","cat":"flow","name":"flow","id":)");
      e.append(std::to_string(flow.id));
      e.append(",\"pid\":").append(std::to_string(row.pid));
      e.append(",\"tid\":").append(std::to_string(row.tid));
      e.append(",\"ts\":");
      append_micros(e, ns);
      e.append(ph[0] == 'f' ? R"(,"bp":"e"})" : "}");
    };
    end("s", flow.from_track, flow.from_ns);
    end("f", flow.to_track, flow.to_ns);
    out.maybe_flush();
  }

  for (const auto& counter : trace.counters()) {
    const std::string head =
        R"({"ph":"C","name":)" + json_string(counter.name) + R"(,"pid":1,"tid":0,"ts":)";
    const std::string key = json_string(counter.unit.empty() ? "value" : counter.unit);
    for (const auto& point : counter.points) {
      if (!std::isfinite(point.value)) continue;  // JSON has no NaN or infinity
      std::string& e = out.event();
      e.append(head);
      append_micros(e, point.time_ns);
      e.append(",\"args\":{").append(key).append(":");
      e.append(json(point.value).dump()).append("}}");
      out.maybe_flush();
    }
  }
  out.text().append("\n]}\n");
  out.flush();
}

void save_chrome_trace(const Trace& trace, const std::filesystem::path& file,
                       const ChromeTraceOptions& options) {
  const bool gzip = file.extension() == ".gz";
  const auto temp = std::filesystem::path(file.string() + ".tmp");
  const auto remove_temp = [&] {
    std::error_code ec;
    std::filesystem::remove(temp, ec);
  };
  const auto failed = [&](const std::string& what) {
    remove_temp();
    throw Error(file.string() + ": " + what);
  };
  gzFile gz = nullptr;
  std::FILE* plain = nullptr;
  if (gzip) {
    gz = gzopen(temp.c_str(), "wb6");
    if (gz == nullptr) failed(std::string("cannot create (") + std::strerror(errno) + ")");
  } else {
    plain = std::fopen(temp.c_str(), "wb");
    if (plain == nullptr) failed(std::string("cannot create (") + std::strerror(errno) + ")");
  }
  bool ok = true;
  try {
    write_chrome_trace(
        trace,
        [&](std::string_view text) {
          if (!ok || text.empty()) return;
          ok = gzip ? gzwrite(gz, text.data(), static_cast<unsigned>(text.size())) ==
                          static_cast<int>(text.size())
                    : std::fwrite(text.data(), 1, text.size(), plain) == text.size();
        },
        options);
  } catch (...) {
    if (gzip) gzclose(gz);
    if (!gzip) std::fclose(plain);
    remove_temp();
    throw;
  }
  const bool closed = gzip ? gzclose(gz) == Z_OK : std::fclose(plain) == 0;
  if (!closed || !ok) failed("cannot write (disk full?)");
  std::error_code ec;
  std::filesystem::rename(temp, file, ec);
  if (ec) failed("cannot rename the finished export into place (" + ec.message() + ")");
}

}  // namespace tb::trace
