// A Trace as Chrome trace JSON (the Trace Event Format that Perfetto and chrome://tracing open):
//
//   {"displayTimeUnit": "ms", "otherData": {...}, "traceEvents": [...]}
//
// - each track a thread row (pid per Track::process, tid per track) named by process_name /
//   thread_name metadata events, ordered by sort-index events in the order their first span
//   starts;
// - spans as complete ("X") events with cat = category_name(), their args kept and their step
//   added as args.step;
// - counters as counter ("C") events, one per point, the value under the counter's unit ("bytes")
//   or "value";
// - flows as "s" / "f" pairs (cat "flow") whose end binds to the enclosing slice (bp "e");
// - Trace::metadata as otherData, with a "trainbench_export" member describing the tracks and
//   counter units, so that import_pytorch_trace (pytorch_import.h) reads an export back into the
//   same Trace.
// Times are microseconds with three decimals, so nanoseconds survive. otherData comes before
// traceEvents (Perfetto stops reading at a top-level member it does not know; otherData it does),
// and the importer, reading streaming, knows the file for an export before its first event.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "core/trace/model.h"

namespace tb::trace {

// The otherData member by which an export is recognized and its tracks described.
inline constexpr const char* kExportMarker = "trainbench_export";

struct ChromeTraceOptions {
  std::string default_process = "trainbench";  // the row group of tracks that name no process
};

// The JSON text, handed to `write` in pieces (a file, a gzip stream, a string).
void write_chrome_trace(const Trace& trace, const std::function<void(std::string_view)>& write,
                        const ChromeTraceOptions& options = {});

// Writes `file` (gzip-compressed when its name ends in ".gz") through a temporary file renamed
// at the end, so a failed export leaves no half-written file. Throws tb::Error naming the file.
void save_chrome_trace(const Trace& trace, const std::filesystem::path& file,
                       const ChromeTraceOptions& options = {});

// "12.345": nanoseconds as microseconds with up to three decimals (none when whole).
void append_micros(std::string& out, std::int64_t ns);

}  // namespace tb::trace
