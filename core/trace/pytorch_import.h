// A PyTorch profiler trace as a Trace: the Kineto object form ({"traceEvents": [...],
// "deviceProperties": ..., "schemaVersion": ...}; today's lower-case categories cpu_op, kernel,
// gpu_memcpy, cuda_runtime, ... and the older Operator, Kernel, Runtime, Memcpy, Memset), the
// legacy bare array of the pre-Kineto profiler, and Trainbench's own Chrome trace export, plain
// or gzip-compressed. The file is read streaming (trace_event_reader.h), so its size is bounded
// by the Trace it makes, not by a JSON document.
//
// What becomes what:
// - complete events (ph X) become spans; each pid/tid pair a track, named from the process_name
//   and thread_name metadata events; GPU streams (Kineto: pid = device, tid = stream; older
//   traces: tid "stream 7") are gpu_stream tracks, the rest cpu_thread;
// - categories map to Category (cpu_op/Operator -> cpu_op, kernel/Kernel -> kernel or, for NCCL
//   kernels, communication, ...); "ProfilerStep#N" is a step span with step N, and every span of
//   the same process starting inside it gets step N (for ProfilerStep#0 that is 0, which the
//   model also reads as "no step": the step span itself still marks it); DataLoader ranges are
//   data; record_function ranges named data/forward/backward/optimizer (and Optimizer.step# /
//   Optimizer.zero_grad# ranges) are those phases;
// - flow events (s, t, f) become Flows, paired by category and id;
// - "[memory]" instant events become the counters "memory allocated (cpu)" / "(cuda:N)" and
//   "memory reserved (...)" in bytes; counter events (ph C) become counters;
// - the other top-level members (deviceProperties, schemaVersion, baseTimeNanoseconds, ...) go
//   into Trace::metadata with "source", "file" and what was skipped.
// Times become nanoseconds since the earliest imported event (a Trainbench export keeps its own
// origin). Events that cannot be used (an unknown category, a missing ts or dur, an unpaired flow
// end) are skipped and counted, by reason, in ImportStats and in metadata "skipped".
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "core/trace/model.h"

namespace tb::trace {

struct SkipCount {
  std::int64_t events = 0;
  std::uint64_t first_offset = 0;  // byte (of the uncompressed JSON) of the first one skipped
};

struct ImportStats {
  std::string source;       // "pytorch-kineto", "pytorch-legacy", "trainbench", "chrome-trace"
  std::int64_t events = 0;  // elements of the event array read
  std::int64_t spans = 0;
  std::array<std::int64_t, kCategoryCount> spans_by_category{};  // indexed by Category
  std::int64_t steps = 0;                                        // step spans
  std::int64_t tracks = 0;
  std::int64_t flows = 0;
  std::int64_t memory_points = 0;   // "[memory]" events (or "memory ..." counter events) imported
  std::int64_t counter_points = 0;  // every counter point, memory ones included
  // Events left out, by reason ("missing ts", "unpaired flow end", ...); unknown categories
  // separately, by the category's text.
  std::map<std::string, SkipCount> skipped;
  std::map<std::string, SkipCount> skipped_categories;

  std::int64_t spans_in(Category category) const {
    return spans_by_category[static_cast<std::size_t>(category)];
  }
  std::int64_t skipped_events() const;
};

// Reads `file` (.json or .json.gz). Throws tb::FormatError naming the file on unreadable or
// malformed input (with the byte offset), and on JSON that is not a trace. The result is
// finish()ed.
Trace import_pytorch_trace(const std::filesystem::path& file, ImportStats* stats = nullptr);

}  // namespace tb::trace
