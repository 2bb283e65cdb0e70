// Streaming reader of Chrome trace JSON (the Trace Event Format PyTorch's profiler, Perfetto and
// Trainbench's own export write): either an object whose "traceEvents" member is the array of
// events, or a bare array of events. The file (plain or gzip) is read through nlohmann::json's
// SAX interface, and only one event object is held at a time, so a trace of any size is read in
// memory proportional to what the caller keeps, not to the file.
//
// The reader knows the format's shape, not what the events mean: each event object is handed to
// a TraceEventSink with its common fields picked out (times converted to nanoseconds exactly, ids
// as text) and its "args" as a JSON object; every other top-level member of the object form
// (deviceProperties, schemaVersion, otherData, ...) is handed over whole, in file order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tb::trace {

// A "ts" or "dur" field: absent, not a number, or a time in nanoseconds.
struct EventTime {
  bool present = false;
  bool valid = false;   // present and a number (or a string holding one) in range
  std::int64_t ns = 0;  // the microseconds of the file, times 1000, rounded to the nanosecond
};

struct TraceEvent {
  std::uint64_t offset = 0;  // byte of the uncompressed JSON where the event object starts
  std::string ph;            // "" when absent or not a string
  std::string name;
  std::string cat;
  bool has_name = false;
  bool has_cat = false;
  // pid and tid as text: integers and strings of digits read alike ("25738" and 25738 are the
  // same thread in PyTorch's traces); absent: "".
  std::string pid;
  std::string tid;
  bool pid_is_number = false;
  bool tid_is_number = false;
  EventTime ts;
  EventTime dur;
  std::string id;     // flow id ("id", or "id2" as "local:N" / "global:N"); "" when absent
  std::string bp;     // flow end binding point ("e": the enclosing slice)
  std::string scope;  // instant event scope ("s")
  nlohmann::ordered_json args;  // the "args" object, in file order; null when absent

  void clear();
};

class TraceEventSink {
 public:
  virtual ~TraceEventSink() = default;
  // A member of the top-level object other than "traceEvents", as soon as it has been read.
  virtual void top_level(const std::string& key, nlohmann::json value) = 0;
  // One event object of the array; the sink may move from it.
  virtual void event(TraceEvent& event) = 0;
  // An element of the event array that is not an object (a number, a string, an array).
  virtual void not_an_object(std::uint64_t offset) = 0;
};

enum class TraceForm { object, array };

// Reads `file` (.json or .json.gz; compression is detected, not taken from the name). Throws
// tb::FormatError naming the file: when it cannot be opened, its gzip data are damaged, its JSON
// is malformed (with the byte offset, line and column), or it is JSON but not a trace (neither
// an object with a "traceEvents" array nor an array).
TraceForm read_trace_events(const std::filesystem::path& file, TraceEventSink& sink);

// "12.345" (microseconds, as JSON writes numbers: sign, fraction, exponent) in nanoseconds,
// rounded half away from zero, with decimal arithmetic (no double in between, so 16-digit
// microsecond timestamps keep their nanoseconds); digits past the 18th significant one are
// dropped. nullopt when the text is not a number or the result does not fit an int64.
std::optional<std::int64_t> micros_text_to_ns(std::string_view text);

}  // namespace tb::trace
