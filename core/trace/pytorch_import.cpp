#include "core/trace/pytorch_import.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/trace/chrome_trace.h"
#include "core/trace/trace_event_reader.h"
#include "core/util/error.h"

namespace tb::trace {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool contains_nocase(std::string_view text, std::string_view needle) {
  const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
  return std::search(text.begin(), text.end(), needle.begin(), needle.end(),
                     [&](char a, char b) { return lower(a) == lower(b); }) != text.end();
}

std::string trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  return std::string(text);
}

// The N of "ProfilerStep#N" (0 when the name has no number).
std::int64_t step_number(std::string_view name) {
  const auto hash = name.find('#');
  if (hash == std::string_view::npos) return 0;
  std::int64_t n = 0;
  for (std::size_t i = hash + 1; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) {
    if (n > std::numeric_limits<std::int64_t>::max() / 10 - 10) return 0;
    n = n * 10 + (name[i] - '0');
  }
  return n;
}

// A PyTorch (or other) category as a Category; nullopt for a category nobody here knows.
// `host_range` tells the caller whether the span is a host-side range whose name may say more
// (a ProfilerStep, a DataLoader wait, a record_function phase).
std::optional<Category> category_of_cat(std::string_view cat, bool& host_range) {
  host_range = false;
  if (cat == "cpu_op" || cat == "Operator" || cat == "operator") {
    host_range = true;
    return Category::cpu_op;
  }
  if (cat == "kernel" || cat == "Kernel") return Category::kernel;
  if (cat == "gpu_memcpy" || cat == "Memcpy") return Category::memcpy;
  if (cat == "gpu_memset" || cat == "Memset") return Category::memset;
  if (cat == "cuda_runtime" || cat == "cuda_driver" || cat == "Runtime" || cat == "Driver" ||
      ends_with(cat, "_runtime") || ends_with(cat, "_driver")) {
    return Category::runtime;
  }
  if (cat == "cuda_sync") return Category::sync;
  if (cat == "collective_comm") return Category::communication;
  if (cat == "gpu_user_annotation") return Category::annotation;  // a copy of a host range
  if (cat == "user_annotation" || cat == "python_function" || cat == "Python" ||
      starts_with(cat, "Trace")) {
    host_range = true;
    return Category::annotation;
  }
  return std::nullopt;
}

// What a host range's name says about it, when it says anything.
std::optional<Category> category_of_range_name(std::string_view name) {
  if (starts_with(name, "ProfilerStep#")) return Category::step;
  if (name.find("DataLoader") != std::string_view::npos) return Category::data;
  if (name == "data") return Category::data;
  if (name == "forward") return Category::forward;
  if (name == "backward") return Category::backward;
  if (name == "optimizer" || starts_with(name, "Optimizer.step#") ||
      starts_with(name, "Optimizer.zero_grad#")) {
    return Category::optimizer;
  }
  return std::nullopt;
}

bool is_flow_category(std::string_view cat) {
  // ac2g / async: a launch to its kernel; fwdbwd: forward op to backward op; cpu_to_cuda: the
  // legacy profiler's launches; flow: Trainbench's own export.
  return cat == "ac2g" || cat == "async" || cat == "fwdbwd" || cat == "cpu_to_cuda" ||
         cat == "flow";
}

std::uint64_t flow_id_number(const std::string& text) {
  if (text.empty()) return 0;
  char* end = nullptr;
  const bool hex = starts_with(text, "0x") || starts_with(text, "0X");
  const std::uint64_t value = std::strtoull(text.c_str() + (hex ? 2 : 0), &end, hex ? 16 : 10);
  if (end != nullptr && *end == '\0' && text[0] != '-') return value;
  return std::hash<std::string>{}(text);
}

std::optional<double> number_of(const ordered_json& value) {
  if (value.is_number()) return value.get<double>();
  return std::nullopt;
}

// The span as read, before the origin is known and steps are assigned: 40 bytes.
struct LocalSpan {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::int64_t step = 0;
  std::uint32_t track = 0;  // index into Importer::tracks_
  std::uint32_t name = 0;   // NameId
  std::uint32_t args = 0;   // ArgsId (0: none)
  Category category = Category::other;
};

struct LocalTrack {
  std::string pid;
  std::string tid;
  bool pid_is_number = false;
  bool tid_is_number = false;
  std::uint32_t process = 0;  // index into Importer::processes_
  std::int64_t host_spans = 0;
  std::int64_t device_spans = 0;
};

struct Process {
  std::string pid;
  std::string name;    // process_name metadata
  std::string labels;  // process_labels metadata ("CPU", "GPU 0")
  bool pid_is_number = false;
  struct Step {
    std::int64_t start_ns, end_ns, step;
  };
  std::vector<Step> steps;
};

struct FlowEnd {
  std::uint32_t track = 0;
  std::int64_t ns = 0;
  bool next_slice = false;  // binds to the next slice starting at or after ns (an "f" with no bp)
};

struct PendingFlow {
  std::optional<FlowEnd> start;
  std::optional<FlowEnd> end;
  std::uint64_t offset = 0;
};

struct LocalFlow {
  std::uint64_t id = 0;
  FlowEnd from;
  FlowEnd to;
};

struct LocalCounter {
  std::string name;
  std::string unit;
  std::vector<CounterPoint> points;
};

class Importer final : public TraceEventSink {
 public:
  Importer(const std::filesystem::path& file, ImportStats& stats) : file_(file), stats_(stats) {}

  void top_level(const std::string& key, json value) override;
  void event(TraceEvent& e) override;
  void not_an_object(std::uint64_t offset) override {
    ++stats_.events;
    skip("event not an object", offset);
  }

  Trace finish(TraceForm form);

 private:
  void skip(const std::string& reason, std::uint64_t offset) {
    auto& count = stats_.skipped[reason];
    if (count.events++ == 0) count.first_offset = offset;
  }
  void skip_category(const std::string& cat, std::uint64_t offset) {
    auto& count = stats_.skipped_categories[cat];
    if (count.events++ == 0) count.first_offset = offset;
  }
  void read_export_marker(const json& marker);
  bool timed(const TraceEvent& e);
  std::uint32_t track_of(const TraceEvent& e);
  std::uint32_t process_of(const std::string& pid, bool pid_is_number);
  std::uint32_t counter_named(const std::string& name, const std::string& unit);

  void span(TraceEvent& e);
  void metadata_event(const TraceEvent& e);
  void flow(const TraceEvent& e);
  void memory(const TraceEvent& e);
  void counter(const TraceEvent& e);

  std::vector<Track> resolved_tracks() const;
  void assign_steps();
  void bind_next_slice_flows();

  const std::filesystem::path& file_;
  ImportStats& stats_;
  Trace trace_;
  json metadata_ = json::object();
  bool trainbench_ = false;  // the file is Trainbench's own export
  bool pytorch_hint_ = false;
  std::int64_t rank_ = 0;

  std::vector<LocalSpan> spans_;
  std::vector<LocalTrack> tracks_;
  std::unordered_map<std::string, std::uint32_t> track_index_;  // pid \x1f tid
  std::string last_track_key_;
  std::uint32_t last_track_ = 0;
  std::vector<Process> processes_;
  std::unordered_map<std::string, std::uint32_t> process_index_;
  std::unordered_map<std::string, std::string> thread_names_;  // pid \x1f tid -> name
  std::unordered_map<std::string, Track> exported_tracks_;     // pid \x1f tid
  std::unordered_map<std::string, std::string> exported_units_;

  std::unordered_map<std::string, PendingFlow> pending_flows_;  // cat \x1f id
  std::vector<LocalFlow> flows_;
  std::vector<LocalCounter> counters_;
  std::unordered_map<std::string, std::uint32_t> counter_index_;
  std::unordered_map<std::string, double> memory_totals_;  // by device, from "Bytes" deltas
  bool memory_from_deltas_ = false;
};

void Importer::top_level(const std::string& key, json value) {
  if (key == "displayTimeUnit") return;  // how a viewer shows times; no meaning once imported
  if (key == "schemaVersion" || key == "deviceProperties" || key == "distributedInfo" ||
      key == "baseTimeNanoseconds") {
    pytorch_hint_ = true;
  }
  if (key == "distributedInfo" && value.is_object()) {
    if (const auto rank = value.find("rank"); rank != value.end() && rank->is_number_integer()) {
      rank_ = rank->get<std::int64_t>();
    }
  }
  if (key == "otherData" && value.is_object()) {
    if (const auto it = value.find(kExportMarker); it != value.end() && it->is_object()) {
      read_export_marker(*it);
      value.erase(it);
      // A Trainbench export's otherData is the session's own metadata: it is this trace's.
      for (auto& [k, v] : value.items()) metadata_[k] = std::move(v);
      return;
    }
  }
  metadata_[key] = std::move(value);
}

// Trainbench's export writes, inside otherData and so before its events, how its tracks were
// named and its counters' units, so that an export imports back the same.
void Importer::read_export_marker(const json& marker) {
  trainbench_ = true;
  if (const auto tracks = marker.find("tracks"); tracks != marker.end() && tracks->is_array()) {
    for (const auto& t : *tracks) {
      if (!t.is_object() || !t.contains("pid") || !t.contains("tid")) continue;
      Track track;
      track.name = t.value("name", std::string());
      track.process = t.value("process", std::string());
      track.kind =
          track_kind_from_name(t.value("kind", std::string())).value_or(TrackKind::cpu_thread);
      track.rank = t.value("rank", std::int64_t{0});
      // Made now, in the export's order, so that every track keeps its id (and one with no
      // spans is kept too).
      TraceEvent where;
      where.pid = t["pid"].dump();
      where.tid = t["tid"].dump();
      where.pid_is_number = t["pid"].is_number_integer();
      where.tid_is_number = t["tid"].is_number_integer();
      track_of(where);
      exported_tracks_[where.pid + '\x1f' + where.tid] = std::move(track);
    }
  }
  if (const auto units = marker.find("counter_units");
      units != marker.end() && units->is_object()) {
    for (const auto& [name, unit] : units->items()) {
      if (unit.is_string()) exported_units_[name] = unit.get<std::string>();
    }
  }
}

void Importer::event(TraceEvent& e) {
  ++stats_.events;
  if (e.ph.size() != 1) {
    skip(e.ph.empty() ? "missing ph" : "unknown ph \"" + e.ph + "\"", e.offset);
    return;
  }
  switch (e.ph[0]) {
    case 'X':
      span(e);
      return;
    case 'M':
      metadata_event(e);
      return;
    case 's':
    case 't':
    case 'f':
      flow(e);
      return;
    case 'i':
    case 'I':
      if (e.name == "[memory]") {
        memory(e);
      } else {
        skip("instant event", e.offset);
      }
      return;
    case 'C':
      counter(e);
      return;
    case 'B':
    case 'E':
      skip("begin/end event (ph B/E)", e.offset);
      return;
    default:
      skip("unknown ph \"" + e.ph + "\"", e.offset);
      return;
  }
}

// Whether the event has a usable ts (counted as skipped otherwise).
bool Importer::timed(const TraceEvent& e) {
  if (!e.ts.present) {
    skip("missing ts", e.offset);
    return false;
  }
  if (!e.ts.valid) {
    skip("ts not a number", e.offset);
    return false;
  }
  return true;
}

std::uint32_t Importer::process_of(const std::string& pid, bool pid_is_number) {
  const auto [it, added] =
      process_index_.try_emplace(pid, static_cast<std::uint32_t>(processes_.size()));
  if (added) {
    processes_.push_back({});
    processes_.back().pid = pid;
    processes_.back().pid_is_number = pid_is_number;
  }
  return it->second;
}

std::uint32_t Importer::track_of(const TraceEvent& e) {
  std::string key;
  key.reserve(e.pid.size() + e.tid.size() + 1);
  key.append(e.pid).push_back('\x1f');
  key.append(e.tid);
  if (!tracks_.empty() && key == last_track_key_) return last_track_;
  const auto [it, added] =
      track_index_.try_emplace(key, static_cast<std::uint32_t>(tracks_.size()));
  if (added) {
    if (tracks_.size() >= std::numeric_limits<std::uint32_t>::max()) {
      throw FormatError(file_.string() + ": more tracks than can be imported");
    }
    LocalTrack track;
    track.pid = e.pid;
    track.tid = e.tid;
    track.pid_is_number = e.pid_is_number;
    track.tid_is_number = e.tid_is_number;
    track.process = process_of(e.pid, e.pid_is_number);
    tracks_.push_back(std::move(track));
  }
  last_track_key_ = std::move(key);
  last_track_ = it->second;
  return last_track_;
}

void Importer::span(TraceEvent& e) {
  if (!timed(e)) return;
  if (!e.dur.present) return skip("missing dur", e.offset);
  if (!e.dur.valid) return skip("dur not a number", e.offset);
  if (e.dur.ns < 0) return skip("negative dur", e.offset);
  if (e.ts.ns > std::numeric_limits<std::int64_t>::max() - e.dur.ns) {
    return skip("ts + dur out of range", e.offset);
  }
  if (!e.has_name) return skip("missing name", e.offset);

  std::optional<Category> category;
  bool host_range = false;
  if (trainbench_ && e.has_cat) category = category_from_name(e.cat);
  if (!category && e.has_cat && !e.cat.empty()) {
    category = category_of_cat(e.cat, host_range);
    if (category) pytorch_hint_ = true;
    if (!category) category = category_from_name(e.cat);
    if (category == Category::kernel && contains_nocase(e.name, "nccl")) {
      category = Category::communication;
    }
  } else if (!category) {
    // The legacy profiler writes no categories: host functions, or kernels on a CUDA process.
    const bool device = contains_nocase(e.pid, "cuda") || contains_nocase(e.pid, "gpu");
    category = device ? Category::kernel : Category::cpu_op;
    host_range = !device;
  }
  if (!category) return skip_category(e.cat, e.offset);
  if (host_range) {
    if (const auto named = category_of_range_name(e.name)) category = named;
  }

  LocalSpan span;
  span.start_ns = e.ts.ns;
  span.end_ns = e.ts.ns + e.dur.ns;
  span.category = *category;
  span.track = track_of(e);
  span.name = static_cast<std::uint32_t>(trace_.intern(e.name).value);
  if (e.args.is_object()) {
    // A Trainbench export carries each span's step in its args; it is the span's, not an arg.
    if (trainbench_) {
      if (const auto step = e.args.find("step");
          step != e.args.end() && step->is_number_integer()) {
        span.step = step->get<std::int64_t>();
        e.args.erase(step);
      }
    }
    if (!e.args.empty()) {
      const auto id = trace_.add_args(e.args.dump(-1, ' ', false, json::error_handler_t::replace));
      if (id.value >= std::numeric_limits<std::uint32_t>::max()) {
        throw FormatError(file_.string() + ": more span args than can be imported");
      }
      span.args = static_cast<std::uint32_t>(id.value);
    }
  }
  auto& track = tracks_[span.track];
  (is_device_category(span.category) ? track.device_spans : track.host_spans) += 1;
  if (span.category == Category::step) {
    ++stats_.steps;
    if (!trainbench_) {
      span.step = step_number(e.name);
      processes_[track.process].steps.push_back({span.start_ns, span.end_ns, span.step});
    }
  }
  ++stats_.spans;
  ++stats_.spans_by_category[static_cast<std::size_t>(span.category)];
  spans_.push_back(span);
}

void Importer::metadata_event(const TraceEvent& e) {
  if (!e.args.is_object()) return;
  const auto text = [&](const char* key) -> std::optional<std::string> {
    const auto it = e.args.find(key);
    if (it == e.args.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  if (e.name == "process_name") {
    if (auto name = text("name")) processes_[process_of(e.pid, e.pid_is_number)].name = *name;
  } else if (e.name == "process_labels") {
    if (auto labels = text("labels")) {
      processes_[process_of(e.pid, e.pid_is_number)].labels = *labels;
    }
  } else if (e.name == "thread_name") {
    // Kineto names a stream twice ("Device 0", then "stream 1 "): the last name wins.
    if (auto name = text("name")) thread_names_[e.pid + '\x1f' + e.tid] = trimmed(*name);
  }
  // Sort indexes and other metadata events only order a viewer's rows.
}

void Importer::flow(const TraceEvent& e) {
  if (!is_flow_category(e.cat)) return skip_category(e.has_cat ? e.cat : "(flow, none)", e.offset);
  if (e.id.empty()) return skip("flow event without an id", e.offset);
  if (!timed(e)) return;
  const FlowEnd point{track_of(e), e.ts.ns, e.ph == "f" && e.bp != "e"};
  auto& pending = pending_flows_[e.cat + '\x1f' + e.id];
  const auto add = [&](const FlowEnd& from, const FlowEnd& to) {
    flows_.push_back({flow_id_number(e.id), from, to});
  };
  // Pairs in file order: a start waits for its end; an end written before its start (some
  // writers sort by time only) waits for the start.
  if (e.ph == "s") {
    if (pending.end) {
      add(point, *pending.end);
      pending_flows_.erase(e.cat + '\x1f' + e.id);
      return;
    }
    if (pending.start) skip("flow start without an end", pending.offset);
    pending.start = point;
    pending.offset = e.offset;
  } else if (e.ph == "t") {
    if (!pending.start) return skip("flow step without a start", e.offset);
    add(*pending.start, point);
    pending.start = point;
  } else {  // "f"
    if (pending.start) {
      add(*pending.start, point);
      pending_flows_.erase(e.cat + '\x1f' + e.id);
      return;
    }
    if (pending.end) skip("flow end without a start", pending.offset);
    pending.end = point;
    pending.offset = e.offset;
  }
}

std::uint32_t Importer::counter_named(const std::string& name, const std::string& unit) {
  const auto [it, added] =
      counter_index_.try_emplace(name, static_cast<std::uint32_t>(counters_.size()));
  if (added) counters_.push_back({name, unit, {}});
  return it->second;
}

void Importer::memory(const TraceEvent& e) {
  if (!timed(e)) return;
  if (!e.args.is_object()) return skip("memory event without args", e.offset);
  const auto integer = [&](const char* key, std::int64_t fallback) {
    const auto it = e.args.find(key);
    return it != e.args.end() && it->is_number_integer() ? it->get<std::int64_t>() : fallback;
  };
  // c10::DeviceType: 0 CPU, 1 CUDA; "Device Id" is -1 for the CPU.
  const std::int64_t type = integer("Device Type", 0);
  const std::int64_t id = integer("Device Id", -1);
  const std::string device = type == 0 ? "cpu"
                             : type == 1
                                 ? "cuda:" + std::to_string(std::max<std::int64_t>(id, 0))
                                 : "device type " + std::to_string(type) + ":" + std::to_string(id);
  std::optional<double> allocated;
  std::optional<double> reserved;
  if (const auto it = e.args.find("Total Allocated"); it != e.args.end()) {
    allocated = number_of(*it);
  }
  if (const auto it = e.args.find("Total Reserved"); it != e.args.end()) reserved = number_of(*it);
  if (!allocated) {
    // Traces from 2021 carry only each allocation's size ("Bytes", negative for a free): the
    // running sum is the memory allocated since the trace began.
    if (const auto it = e.args.find("Bytes"); it != e.args.end()) {
      if (const auto bytes = number_of(*it)) {
        allocated = (memory_totals_[device] += *bytes);
        memory_from_deltas_ = true;
      }
    }
  }
  if (!allocated && !reserved) return skip("memory event without a size", e.offset);
  if (allocated) {
    counters_[counter_named("memory allocated (" + device + ")", "bytes")].points.push_back(
        {e.ts.ns, *allocated});
    ++stats_.counter_points;
  }
  if (reserved) {
    counters_[counter_named("memory reserved (" + device + ")", "bytes")].points.push_back(
        {e.ts.ns, *reserved});
    ++stats_.counter_points;
  }
  ++stats_.memory_points;
}

void Importer::counter(const TraceEvent& e) {
  if (!timed(e)) return;
  std::vector<std::pair<std::string, double>> values;
  if (e.args.is_object()) {
    for (const auto& [key, value] : e.args.items()) {
      if (const auto number = number_of(value)) values.emplace_back(key, *number);
    }
  }
  if (values.empty()) return skip("counter event without a numeric value", e.offset);
  for (const auto& [key, value] : values) {
    // One series: the counter is the event's name (Trainbench writes {"<unit>": value}); more:
    // one counter per series, "name series".
    const std::string name = values.size() == 1 ? e.name : e.name + " " + key;
    std::string unit;
    if (trainbench_) {
      if (const auto it = exported_units_.find(e.name); it != exported_units_.end()) {
        unit = it->second;
      }
    }
    counters_[counter_named(name, unit)].points.push_back({e.ts.ns, value});
    ++stats_.counter_points;
  }
  // A Trainbench export writes the "[memory]" points it imported as memory counters.
  if (starts_with(e.name, "memory ")) ++stats_.memory_points;
}

std::vector<Track> Importer::resolved_tracks() const {
  std::vector<Track> tracks;
  tracks.reserve(tracks_.size());
  for (const auto& local : tracks_) {
    const std::string key = local.pid + '\x1f' + local.tid;
    if (trainbench_) {
      if (const auto it = exported_tracks_.find(key); it != exported_tracks_.end()) {
        tracks.push_back(it->second);
        continue;
      }
    }
    const Process& process = processes_[local.process];
    const auto named = thread_names_.find(key);
    std::string name = named != thread_names_.end() ? named->second : std::string();
    const bool gpu_process = starts_with(process.labels, "GPU");
    const bool gpu = gpu_process || starts_with(name, "stream") ||
                     starts_with(local.tid, "stream") ||
                     (local.device_spans > 0 && local.host_spans == 0);
    if (name.empty()) {
      if (!local.tid_is_number) {
        name = local.tid.empty() ? "thread" : local.tid;
      } else {
        name = (gpu ? "stream " : "thread ") + local.tid;
      }
    }
    Track track;
    track.name = std::move(name);
    track.kind = gpu ? TrackKind::gpu_stream : TrackKind::cpu_thread;
    track.rank = rank_;
    if (gpu && gpu_process) {
      track.process = process.labels;  // "GPU 0"
    } else if (gpu && local.pid_is_number) {
      track.process = "GPU " + local.pid;
    } else if (!process.name.empty()) {
      // Kineto names every process "python": the pid tells two of them apart.
      track.process = local.pid_is_number ? process.name + " " + local.pid : process.name;
    } else {
      track.process = local.pid_is_number ? "process " + local.pid : local.pid;
    }
    tracks.push_back(std::move(track));
  }
  // The store matches tracks by (process, name): two threads a trace names alike stay apart.
  std::unordered_map<std::string, int> seen;
  for (std::size_t i = 0; i < tracks.size(); ++i) {
    if (seen[tracks[i].process + '\x1f' + tracks[i].name]++ > 0) {
      tracks[i].name += " (tid " + tracks_[i].tid + ")";
    }
  }
  return tracks;
}

// Every span of a process starting inside one of its ProfilerStep#N spans belongs to step N.
void Importer::assign_steps() {
  bool any = false;
  for (auto& process : processes_) {
    std::sort(
        process.steps.begin(), process.steps.end(),
        [](const Process::Step& a, const Process::Step& b) { return a.start_ns < b.start_ns; });
    any = any || !process.steps.empty();
  }
  if (!any) return;
  for (auto& span : spans_) {
    if (span.step != 0) continue;
    const auto& steps = processes_[tracks_[span.track].process].steps;
    auto it = std::upper_bound(
        steps.begin(), steps.end(), span.start_ns,
        [](std::int64_t start, const Process::Step& step) { return start < step.start_ns; });
    if (it == steps.begin()) continue;
    --it;
    if (span.start_ns < it->end_ns) span.step = it->step;
  }
}

// An "f" event with no binding point binds to the next slice on its track starting at or after
// its time: move the flow's end there, so that it lies inside the span it points at.
void Importer::bind_next_slice_flows() {
  const bool any =
      std::any_of(flows_.begin(), flows_.end(), [](const LocalFlow& f) { return f.to.next_slice; });
  if (!any) return;
  std::vector<std::pair<std::uint32_t, std::int64_t>> starts;  // (track, start) sorted
  starts.reserve(spans_.size());
  for (const auto& span : spans_) starts.emplace_back(span.track, span.start_ns);
  std::sort(starts.begin(), starts.end());
  for (auto& flow : flows_) {
    if (!flow.to.next_slice) continue;
    const auto it =
        std::lower_bound(starts.begin(), starts.end(), std::make_pair(flow.to.track, flow.to.ns));
    if (it != starts.end() && it->first == flow.to.track) flow.to.ns = it->second;
  }
}

Trace Importer::finish(TraceForm form) {
  for (const auto& [key, pending] : pending_flows_) {
    if (pending.start) skip("flow start without an end", pending.offset);
    if (pending.end) skip("flow end without a start", pending.offset);
  }
  pending_flows_.clear();
  if (form == TraceForm::array && stats_.events > 0 && spans_.empty() && counters_.empty() &&
      flows_.empty() && stats_.skipped.count("event not an object") != 0 &&
      stats_.skipped.at("event not an object").events == stats_.events) {
    throw FormatError(file_.string() +
                      ": a JSON array with no event objects; expected a Chrome trace: an object "
                      "with a \"traceEvents\" array of events, or an array of events");
  }
  stats_.source = trainbench_                ? "trainbench"
                  : form == TraceForm::array ? "pytorch-legacy"
                  : pytorch_hint_            ? "pytorch-kineto"
                                             : "chrome-trace";

  // Times start at the earliest event; a Trainbench export is already relative to its run.
  std::int64_t origin = 0;
  if (!trainbench_) {
    origin = std::numeric_limits<std::int64_t>::max();
    for (const auto& span : spans_) origin = std::min(origin, span.start_ns);
    for (const auto& counter : counters_) {
      for (const auto& point : counter.points) origin = std::min(origin, point.time_ns);
    }
    for (const auto& flow : flows_) origin = std::min({origin, flow.from.ns, flow.to.ns});
    if (origin == std::numeric_limits<std::int64_t>::max()) origin = 0;
  }

  assign_steps();
  bind_next_slice_flows();
  for (auto& track : resolved_tracks()) trace_.add_track(std::move(track));
  for (const auto& local : spans_) {
    Span span;
    span.start_ns = local.start_ns - origin;
    span.end_ns = local.end_ns - origin;
    span.step = local.step;
    span.track = TrackId(static_cast<std::int64_t>(local.track) + 1);
    span.name = NameId(local.name);
    span.args = ArgsId(local.args);
    span.category = local.category;
    trace_.add_span(span);
  }
  std::vector<LocalSpan>().swap(spans_);  // the Trace has them now
  for (const auto& local : flows_) {
    trace_.add_flow({local.id, TrackId(static_cast<std::int64_t>(local.from.track) + 1),
                     local.from.ns - origin, TrackId(static_cast<std::int64_t>(local.to.track) + 1),
                     local.to.ns - origin});
  }
  stats_.flows = static_cast<std::int64_t>(flows_.size());
  for (auto& local : counters_) {
    const auto id = trace_.add_counter(local.name, local.unit);
    for (const auto& point : local.points) {
      trace_.add_counter_point(id, point.time_ns - origin, point.value);
    }
  }
  stats_.tracks = static_cast<std::int64_t>(trace_.tracks().size());

  metadata_["file"] = file_.string();
  if (!metadata_.contains("source")) metadata_["source"] = stats_.source;
  metadata_["import_format"] = stats_.source;
  // Where time 0 lies on the file's own clock (its microseconds, in nanoseconds).
  metadata_["time_origin_ns"] = origin;
  if (memory_from_deltas_) {
    metadata_["memory_counters"] =
        "memory allocated since the trace began (the trace gives allocation sizes, not totals)";
  }
  json skipped = json::object();
  for (const auto& [reason, count] : stats_.skipped) skipped[reason] = count.events;
  json skipped_categories = json::object();
  for (const auto& [cat, count] : stats_.skipped_categories) {
    skipped_categories[cat] = count.events;
  }
  metadata_["skipped"] = std::move(skipped);
  metadata_["skipped_categories"] = std::move(skipped_categories);
  trace_.metadata = std::move(metadata_);
  trace_.finish();
  return std::move(trace_);
}

}  // namespace

std::int64_t ImportStats::skipped_events() const {
  std::int64_t total = 0;
  for (const auto& [reason, count] : skipped) total += count.events;
  for (const auto& [cat, count] : skipped_categories) total += count.events;
  return total;
}

Trace import_pytorch_trace(const std::filesystem::path& file, ImportStats* stats) {
  ImportStats local;
  ImportStats& out = stats != nullptr ? *stats : local;
  out = ImportStats{};
  Importer importer(file, out);
  const TraceForm form = read_trace_events(file, importer);
  return importer.finish(form);
}

}  // namespace tb::trace
