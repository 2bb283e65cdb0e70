#include "core/trace/chrome_trace.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

#include "core/util/error.h"

namespace tb::trace {
namespace {

constexpr int kPid = 1;

// Microseconds with the nanoseconds kept: "12.345".
nlohmann::json micros(std::int64_t ns) {
  if (ns % 1000 == 0) return ns / 1000;
  return static_cast<double>(ns) / 1000.0;
}

}  // namespace

void write_chrome_trace(const ExportTrace& trace,
                        const std::function<void(std::string_view)>& write) {
  std::vector<const ExportSpan*> spans;
  spans.reserve(trace.spans.size());
  for (const auto& span : trace.spans) spans.push_back(&span);
  std::stable_sort(spans.begin(), spans.end(), [](const ExportSpan* a, const ExportSpan* b) {
    return a->start_ns < b->start_ns;
  });
  // Thread ids in the order the tracks first appear; 0 is left unused (some viewers hide it).
  std::map<std::string, int> tids;
  std::vector<const std::string*> track_order;
  for (const auto* span : spans) {
    if (tids.try_emplace(span->track, static_cast<int>(tids.size()) + 1).second) {
      track_order.push_back(&span->track);
    }
  }

  bool first = true;
  const auto event = [&](const nlohmann::json& e) {
    write(first ? "\n" : ",\n");
    first = false;
    write(e.dump());
  };
  write("{\"traceEvents\": [");
  event({{"ph", "M"},
         {"name", "process_name"},
         {"pid", kPid},
         {"tid", 0},
         {"args", {{"name", trace.process_name}}}});
  for (std::size_t i = 0; i < track_order.size(); ++i) {
    const int tid = tids.at(*track_order[i]);
    event({{"ph", "M"},
           {"name", "thread_name"},
           {"pid", kPid},
           {"tid", tid},
           {"args", {{"name", *track_order[i]}}}});
    event({{"ph", "M"},
           {"name", "thread_sort_index"},
           {"pid", kPid},
           {"tid", tid},
           {"args", {{"sort_index", static_cast<int>(i)}}}});
  }
  for (const auto* span : spans) {
    nlohmann::json e = {{"ph", "X"},
                        {"name", span->name},
                        {"cat", span->category},
                        {"ts", micros(span->start_ns)},
                        {"dur", micros(std::max<std::int64_t>(0, span->end_ns - span->start_ns))},
                        {"pid", kPid},
                        {"tid", tids.at(span->track)}};
    if (span->step != 0) e["args"] = {{"step", span->step}};
    event(e);
  }
  for (const auto& counter : trace.counters) {
    for (const auto& point : counter.points) {
      event({{"ph", "C"},
             {"name", counter.name},
             {"pid", kPid},
             {"tid", 0},
             {"ts", micros(point.time_ns)},
             {"args", {{counter.name, point.value}}}});
    }
  }
  write("\n], \"displayTimeUnit\": \"ms\", \"otherData\": ");
  write(trace.metadata.dump());
  write("}\n");
}

void save_chrome_trace(const ExportTrace& trace, const std::filesystem::path& file) {
  const bool gzip = file.extension() == ".gz";
  const auto temp = std::filesystem::path(file.string() + ".tmp");
  const auto failed = [&](const std::string& what) {
    std::error_code ec;
    std::filesystem::remove(temp, ec);
    throw Error(file.string() + ": " + what);
  };
  if (gzip) {
    gzFile out = gzopen(temp.c_str(), "wb6");
    if (out == nullptr) failed(std::string("cannot create (") + std::strerror(errno) + ")");
    bool ok = true;
    write_chrome_trace(trace, [&](std::string_view text) {
      if (ok && !text.empty()) {
        ok = gzwrite(out, text.data(), static_cast<unsigned>(text.size())) ==
             static_cast<int>(text.size());
      }
    });
    if (gzclose(out) != Z_OK || !ok) failed("cannot write (disk full?)");
  } else {
    std::FILE* out = std::fopen(temp.c_str(), "wb");
    if (out == nullptr) failed(std::string("cannot create (") + std::strerror(errno) + ")");
    bool ok = true;
    write_chrome_trace(trace, [&](std::string_view text) {
      if (ok) ok = std::fwrite(text.data(), 1, text.size(), out) == text.size();
    });
    if (std::fclose(out) != 0 || !ok) failed("cannot write (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(temp, file, ec);
  if (ec) failed("cannot rename the finished export into place (" + ec.message() + ")");
}

}  // namespace tb::trace
