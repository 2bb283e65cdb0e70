// Chrome trace JSON (the Trace Event Format that Perfetto and chrome://tracing open): a session's
// spans as complete ("X") events on one named thread row per track, its metrics as counter ("C")
// tracks, and the run's settings as metadata.
//
//   {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}
//
// Times are microseconds since the run started (fractional: nanoseconds are kept). Track rows keep
// the order in which their first span starts.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tb::trace {

struct ExportSpan {
  std::string track;
  std::string name;
  std::string category;
  std::int64_t start_ns = 0;  // since the run started
  std::int64_t end_ns = 0;
  std::int64_t step = 0;  // args.step; 0: none
};

struct CounterPoint {
  std::int64_t time_ns = 0;  // since the run started
  double value = 0.0;
};

struct ExportCounter {
  std::string name;  // "train_loss", "loader_queue_depth", ...
  std::vector<CounterPoint> points;
};

struct ExportTrace {
  std::string process_name;                            // the row group's title
  std::vector<ExportSpan> spans;                       // any order
  std::vector<ExportCounter> counters;                 // each in time order
  nlohmann::json metadata = nlohmann::json::object();  // "otherData"
};

// The JSON text, handed to `write` piece by piece (a file, a gzip stream, a string).
void write_chrome_trace(const ExportTrace& trace,
                        const std::function<void(std::string_view)>& write);

// Writes `file` (gzip-compressed when its name ends in ".gz") through a temporary file renamed
// at the end, so a failed export leaves no half-written file. Throws tb::Error naming the file.
void save_chrome_trace(const ExportTrace& trace, const std::filesystem::path& file);

}  // namespace tb::trace
