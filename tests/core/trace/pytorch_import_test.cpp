// import_pytorch_trace on hand-written traces of each form (the Kineto object form, today's and
// 2021's categories, the legacy bare array), on damaged and foreign input, on the real traces in
// ../shared/fixtures when they are there, and on a 50 MB trace read without a DOM.
#include "core/trace/pytorch_import.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include "core/trace/chrome_trace.h"
#include "core/trace/trace_event_reader.h"
#include "core/util/error.h"
#include "tests/support/test_data.h"
#include "tests/support/trace_builder.h"

namespace tb::trace {
namespace {

using nlohmann::json;
using tb::testing::TempDir;

std::filesystem::path write_text(const std::filesystem::path& file, const std::string& text) {
  if (file.extension() == ".gz") {
    gzFile out = gzopen(file.c_str(), "wb");
    EXPECT_NE(out, nullptr);
    if (!text.empty()) gzwrite(out, text.data(), static_cast<unsigned>(text.size()));
    gzclose(out);
  } else {
    std::ofstream(file, std::ios::binary) << text;
  }
  return file;
}

std::map<std::string, std::int64_t> counts_by_category(const Trace& trace) {
  std::map<std::string, std::int64_t> counts;
  for (const auto& span : trace.spans()) ++counts[category_name(span.category)];
  return counts;
}

const Span* span_named(const Trace& trace, std::string_view name) {
  for (const auto& span : trace.spans()) {
    if (trace.name(span.name) == name) return &span;
  }
  return nullptr;
}

// Today's Kineto form: every category, a launch flow, memory events, an unknown category and an
// instant event that is not memory; pids and tids as numbers and as strings.
const char* kKinetoTrace = R"js({
  "schemaVersion": 1,
  "deviceProperties": [{"id": 0, "name": "Test GPU", "totalGlobalMem": 1000}],
  "baseTimeNanoseconds": 1700000000000000000,
  "traceEvents": [
  {"ph": "M", "name": "process_name", "pid": 100, "tid": 0, "args": {"name": "python"}},
  {"ph": "M", "name": "process_labels", "pid": 100, "tid": 0, "args": {"labels": "CPU"}},
  {"ph": "M", "name": "process_name", "pid": 0, "tid": 0, "args": {"name": "python"}},
  {"ph": "M", "name": "process_labels", "pid": 0, "tid": 0, "args": {"labels": "GPU 0"}},
  {"ph": "M", "name": "thread_name", "pid": 100, "tid": 100, "args": {"name": "thread 100 (python)"}},
  {"ph": "M", "name": "thread_name", "pid": 0, "tid": 7, "args": {"name": "stream 7 "}},
  {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#4", "pid": 100, "tid": 100, "ts": 1000000.5, "dur": 100},
  {"ph": "X", "cat": "user_annotation", "name": "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", "pid": 100, "tid": 100, "ts": 1000001, "dur": 10},
  {"ph": "X", "cat": "cpu_op", "name": "aten::conv2d", "pid": 100, "tid": "100", "ts": 1000012.25, "dur": 20, "args": {"External id": 7, "Input Dims": [[1, 3]]}},
  {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 100, "tid": 100, "ts": 1000013, "dur": 2, "args": {"correlation": 42}},
  {"ph": "X", "cat": "cuda_driver", "name": "cuLaunchKernel", "pid": 100, "tid": 100, "ts": 1000016, "dur": 1},
  {"ph": "s", "id": 42, "pid": 100, "tid": 100, "ts": 1000013, "cat": "ac2g", "name": "ac2g"},
  {"ph": "X", "cat": "kernel", "name": "void implicit_gemm<float>(Params)", "pid": 0, "tid": 7, "ts": 1000020, "dur": 5.125, "args": {"correlation": 42, "grid": [1, 2, 1]}},
  {"ph": "f", "id": 42, "pid": 0, "tid": 7, "ts": 1000020, "cat": "ac2g", "name": "ac2g", "bp": "e"},
  {"ph": "X", "cat": "kernel", "name": "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*)", "pid": 0, "tid": 7, "ts": 1000030, "dur": 4},
  {"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy HtoD (Pageable -> Device)", "pid": 0, "tid": 7, "ts": 1000040, "dur": 3},
  {"ph": "X", "cat": "gpu_memset", "name": "Memset (Device)", "pid": 0, "tid": 7, "ts": 1000044, "dur": 1},
  {"ph": "X", "cat": "cuda_sync", "name": "cudaDeviceSynchronize", "pid": 100, "tid": 100, "ts": 1000050, "dur": 6},
  {"ph": "X", "cat": "python_function", "name": "train.py(12): step", "pid": 100, "tid": 100, "ts": 1000060, "dur": 8},
  {"ph": "X", "cat": "gpu_user_annotation", "name": "forward", "pid": 0, "tid": 7, "ts": 1000020, "dur": 30},
  {"ph": "X", "cat": "user_annotation", "name": "Optimizer.step#SGD.step", "pid": 100, "tid": 100, "ts": 1000070, "dur": 20},
  {"ph": "X", "cat": "cpu_op", "name": "aten::add_", "pid": 100, "tid": 100, "ts": 1000200, "dur": 3},
  {"ph": "X", "cat": "overhead", "name": "Instrumentation", "pid": 100, "tid": 100, "ts": 1000080, "dur": 1},
  {"ph": "i", "s": "t", "name": "[memory]", "pid": 100, "tid": 100, "ts": 1000014, "args": {"Device Type": 1, "Device Id": 0, "Bytes": 512, "Total Allocated": 4096, "Total Reserved": 8192}},
  {"ph": "i", "s": "t", "name": "[memory]", "pid": 100, "tid": 100, "ts": 1000015, "args": {"Device Type": 0, "Device Id": -1, "Bytes": 64, "Total Allocated": 128, "Total Reserved": 0}},
  {"ph": "i", "s": "t", "name": "[memory]", "pid": 100, "tid": 100, "ts": 1000090, "args": {"Device Type": 1, "Device Id": 0, "Bytes": -512, "Total Allocated": 3584, "Total Reserved": 8192}},
  {"name": "Record Window End", "ph": "i", "s": "g", "pid": "", "tid": "", "ts": 1000300}
  ]
})js";

void expect_kineto_trace(const Trace& trace, const ImportStats& stats) {
  EXPECT_EQ(stats.source, "pytorch-kineto");
  EXPECT_EQ(stats.events, 27);
  EXPECT_EQ(stats.spans, 14);
  const std::map<std::string, std::int64_t> expected = {
      {"step", 1},   {"data", 1},          {"cpu_op", 2},   {"runtime", 2},
      {"kernel", 1}, {"communication", 1}, {"memcpy", 1},   {"memset", 1},
      {"sync", 1},   {"annotation", 2},    {"optimizer", 1}};
  EXPECT_EQ(counts_by_category(trace), expected);
  EXPECT_EQ(stats.spans_in(Category::communication), 1);
  EXPECT_EQ(stats.steps, 1);

  // Two tracks: tid "100" and 100 are one thread; the GPU's stream named by its metadata.
  ASSERT_EQ(trace.tracks().size(), 2u);
  EXPECT_EQ(trace.tracks()[0].name, "thread 100 (python)");
  EXPECT_EQ(trace.tracks()[0].process, "python 100");
  EXPECT_EQ(trace.tracks()[0].kind, TrackKind::cpu_thread);
  EXPECT_EQ(trace.tracks()[1].name, "stream 7");
  EXPECT_EQ(trace.tracks()[1].process, "GPU 0");
  EXPECT_EQ(trace.tracks()[1].kind, TrackKind::gpu_stream);

  // Times in ns from the earliest event (1000000.5 us), fractions of a microsecond kept.
  const Span* step = span_named(trace, "ProfilerStep#4");
  ASSERT_NE(step, nullptr);
  EXPECT_EQ(step->start_ns, 0);
  EXPECT_EQ(step->end_ns, 100'000);
  EXPECT_EQ(step->step, 4);
  const Span* conv = span_named(trace, "aten::conv2d");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->start_ns, 11'750);
  EXPECT_EQ(conv->step, 4);  // inside the step, on its process
  EXPECT_EQ(conv->track, TrackId(1));
  EXPECT_EQ(json::parse(trace.args(conv->args)),
            json::parse(R"({"External id": 7, "Input Dims": [[1, 3]]})"));
  const Span* kernel = span_named(trace, "void implicit_gemm<float>(Params)");
  ASSERT_NE(kernel, nullptr);
  EXPECT_EQ(kernel->end_ns - kernel->start_ns, 5'125);
  EXPECT_EQ(kernel->step, 0);  // another process: the GPU's
  EXPECT_EQ(kernel->category, Category::kernel);
  EXPECT_EQ(span_named(trace, "aten::add_")->step, 0);                      // after the step
  EXPECT_EQ(span_named(trace, "forward")->category, Category::annotation);  // a GPU copy
  EXPECT_EQ(span_named(trace, "Optimizer.step#SGD.step")->step, 4);

  ASSERT_EQ(trace.flows().size(), 1u);
  const Flow& flow = trace.flows()[0];
  EXPECT_EQ(flow.id, 42u);
  EXPECT_EQ(flow.from_track, TrackId(1));
  EXPECT_EQ(flow.from_ns, 12'500);
  EXPECT_EQ(flow.to_track, TrackId(2));
  EXPECT_EQ(flow.to_ns, 19'500);
  EXPECT_EQ(stats.flows, 1);

  EXPECT_EQ(stats.memory_points, 3);
  const auto cuda = trace.find_counter("memory allocated (cuda:0)");
  ASSERT_TRUE(cuda.has_value());
  EXPECT_EQ(trace.counter(*cuda).unit, "bytes");
  ASSERT_EQ(trace.counter(*cuda).points.size(), 2u);
  EXPECT_EQ(trace.counter(*cuda).points[0].time_ns, 13'500);
  EXPECT_EQ(trace.counter(*cuda).points[0].value, 4096);
  EXPECT_EQ(trace.counter(*cuda).points[1].value, 3584);
  const auto cpu = trace.find_counter("memory allocated (cpu)");
  ASSERT_TRUE(cpu.has_value());
  EXPECT_EQ(trace.counter(*cpu).points.at(0).value, 128);
  EXPECT_TRUE(trace.find_counter("memory reserved (cuda:0)").has_value());
  EXPECT_TRUE(trace.find_counter("memory reserved (cpu)").has_value());

  // Skipped and counted, not errors: the unknown category and the instant event.
  EXPECT_EQ(stats.skipped_categories.at("overhead").events, 1);
  EXPECT_EQ(stats.skipped.at("instant event").events, 1);
  EXPECT_EQ(stats.skipped_events(), 2);
  EXPECT_EQ(trace.metadata["skipped_categories"]["overhead"], 1);
  EXPECT_EQ(trace.metadata["skipped"]["instant event"], 1);
  EXPECT_EQ(trace.metadata["schemaVersion"], 1);
  EXPECT_EQ(trace.metadata["deviceProperties"][0]["name"], "Test GPU");
  EXPECT_EQ(trace.metadata["baseTimeNanoseconds"], 1700000000000000000LL);
  EXPECT_EQ(trace.metadata["source"], "pytorch-kineto");
  EXPECT_EQ(trace.metadata["time_origin_ns"], 1'000'000'500LL);
}

TEST(PytorchImport, KinetoObjectFormWithEveryCategoryFlowsAndMemory) {
  TempDir dir;
  ImportStats stats;
  const auto trace = import_pytorch_trace(write_text(dir / "k.json", kKinetoTrace), &stats);
  expect_kineto_trace(trace, stats);
  EXPECT_EQ(trace.metadata["file"], (dir / "k.json").string());
}

TEST(PytorchImport, GzipFilesReadTheSame) {
  TempDir dir;
  ImportStats stats;
  const auto trace = import_pytorch_trace(write_text(dir / "k.json.gz", kKinetoTrace), &stats);
  expect_kineto_trace(trace, stats);
}

// 2021's Kineto: capitalized categories, "stream 7" tids, tids as strings in X events and as
// numbers in flows, "async" flows, memory events with allocation sizes only.
TEST(PytorchImport, OlderKinetoCategoriesStreamsAndMemoryDeltas) {
  TempDir dir;
  const auto file = write_text(dir / "old.json", R"js({"schemaVersion": 1, "traceEvents": [
  {"ph": "X", "cat": "Operator", "name": "ProfilerStep#5", "pid": 9, "tid": "9", "ts": 100, "dur": 50},
  {"ph": "X", "cat": "Operator", "name": "aten::mm", "pid": 9, "tid": "9", "ts": 101, "dur": 5},
  {"ph": "X", "cat": "Runtime", "name": "cudaLaunchKernel", "pid": 9, "tid": "9", "ts": 102, "dur": 2},
  {"ph": "s", "id": 7, "pid": 9, "tid": 9, "ts": 102, "cat": "async", "name": "launch"},
  {"ph": "X", "cat": "Kernel", "name": "sgemm_128x64", "pid": 0, "tid": "stream 7", "ts": 110, "dur": 3},
  {"ph": "f", "id": 7, "pid": 0, "tid": "stream 7", "ts": 110, "cat": "async", "name": "launch", "bp": "e"},
  {"ph": "X", "cat": "Memcpy", "name": "Memcpy HtoD", "pid": 0, "tid": "stream 7", "ts": 114, "dur": 1},
  {"ph": "X", "cat": "Memset", "name": "Memset (Device)", "pid": 0, "tid": "stream 7", "ts": 116, "dur": 1},
  {"ph": "i", "s": "t", "name": "[memory]", "pid": 9, "tid": 9, "ts": 103, "args": {"Device Type": 1, "Device Id": 0, "Bytes": 1024}},
  {"ph": "i", "s": "t", "name": "[memory]", "pid": 9, "tid": 9, "ts": 104, "args": {"Device Type": 1, "Device Id": 0, "Bytes": -256}}
  ]})js");
  ImportStats stats;
  const auto trace = import_pytorch_trace(file, &stats);
  const std::map<std::string, std::int64_t> expected = {
      {"step", 1}, {"cpu_op", 1}, {"runtime", 1}, {"kernel", 1}, {"memcpy", 1}, {"memset", 1}};
  EXPECT_EQ(counts_by_category(trace), expected);
  ASSERT_EQ(trace.tracks().size(), 2u);
  EXPECT_EQ(trace.tracks()[0].name, "thread 9");
  EXPECT_EQ(trace.tracks()[1].name, "stream 7");
  EXPECT_EQ(trace.tracks()[1].kind, TrackKind::gpu_stream);
  EXPECT_EQ(trace.tracks()[1].process, "GPU 0");
  ASSERT_EQ(trace.flows().size(), 1u);
  EXPECT_EQ(trace.flows()[0].from_track, TrackId(1));  // tid 9 and "9": one track
  EXPECT_EQ(span_named(trace, "aten::mm")->step, 5);
  const auto memory = trace.find_counter("memory allocated (cuda:0)");
  ASSERT_TRUE(memory.has_value());
  ASSERT_EQ(trace.counter(*memory).points.size(), 2u);
  EXPECT_EQ(trace.counter(*memory).points[0].value, 1024);
  EXPECT_EQ(trace.counter(*memory).points[1].value, 768);  // the running sum
  EXPECT_FALSE(trace.find_counter("memory reserved (cuda:0)").has_value());
  EXPECT_TRUE(trace.metadata.contains("memory_counters"));
}

TEST(PytorchImport, LegacyBareArrayWithRecordFunctionPhases) {
  TempDir dir;
  const auto file = write_text(dir / "legacy.json", R"([
  {"name": "aten::zeros", "ph": "X", "ts": 5, "dur": 3, "tid": 1, "pid": "CPU functions", "args": {}},
  {"name": "ProfilerStep#0", "ph": "X", "ts": 10, "dur": 100, "tid": 1, "pid": "CPU functions", "args": {}},
  {"name": "data", "ph": "X", "ts": 11, "dur": 10, "tid": 1, "pid": "CPU functions", "args": {}},
  {"name": "forward", "ph": "X", "ts": 22, "dur": 30, "tid": 1, "pid": "CPU functions", "args": {}},
  {"name": "aten::linear", "ph": "X", "ts": 23, "dur": 20, "tid": 1, "pid": "CPU functions", "args": {}},
  {"name": "backward", "ph": "X", "ts": 53, "dur": 30, "tid": "1", "pid": "CPU functions", "args": {}},
  {"name": "optimizer", "ph": "X", "ts": 84, "dur": 20, "tid": 1, "pid": "CPU functions", "args": {}},
  {"name": "ProfilerStep#1", "ph": "X", "ts": 110, "dur": 50, "tid": 1, "pid": "CPU functions", "args": {}},
  {"name": "data", "ph": "X", "ts": 111, "dur": 10, "tid": 1, "pid": "CPU functions", "args": {}},
  {"name": "aten::mm", "ph": "X", "ts": 200, "dur": 1, "tid": 2, "pid": "CPU functions", "args": {}}
  ])");
  ImportStats stats;
  const auto trace = import_pytorch_trace(file, &stats);
  EXPECT_EQ(stats.source, "pytorch-legacy");
  EXPECT_EQ(trace.metadata["source"], "pytorch-legacy");
  const std::map<std::string, std::int64_t> expected = {
      {"step", 2}, {"data", 2}, {"forward", 1}, {"backward", 1}, {"optimizer", 1}, {"cpu_op", 3}};
  EXPECT_EQ(counts_by_category(trace), expected);
  EXPECT_EQ(stats.steps, 2);
  ASSERT_EQ(trace.tracks().size(), 2u);
  EXPECT_EQ(trace.tracks()[0].name, "thread 1");
  EXPECT_EQ(trace.tracks()[0].process, "CPU functions");
  EXPECT_EQ(trace.spans().front().start_ns, 0);  // aten::zeros, the earliest
  EXPECT_EQ(span_named(trace, "ProfilerStep#1")->step, 1);
  EXPECT_EQ(trace.spans().back().step, 0);  // aten::mm: after every step
  std::int64_t in_step_1 = 0;
  for (const auto& span : trace.spans()) in_step_1 += span.step == 1 ? 1 : 0;
  EXPECT_EQ(in_step_1, 2);  // ProfilerStep#1 and its data
  EXPECT_EQ(stats.skipped_events(), 0);
}

// A flow end with no binding point binds to the next slice on its track; "t" events are steps
// of one flow (each step an arrow); an end written before its start still pairs.
TEST(PytorchImport, FlowBindingPointsStepsAndOrder) {
  TempDir dir;
  const auto file = write_text(dir / "flows.json", R"({"traceEvents": [
  {"ph": "X", "cat": "cpu_op", "name": "launch", "pid": 1, "tid": 1, "ts": 10, "dur": 5},
  {"ph": "X", "cat": "kernel", "name": "k1", "pid": 0, "tid": 3, "ts": 20, "dur": 2},
  {"ph": "X", "cat": "kernel", "name": "k2", "pid": 0, "tid": 3, "ts": 30, "dur": 2},
  {"ph": "s", "id": "0x1f", "cat": "ac2g", "name": "a", "pid": 1, "tid": 1, "ts": 11},
  {"ph": "f", "id": "0x1f", "cat": "ac2g", "name": "a", "pid": 0, "tid": 3, "ts": 16},
  {"ph": "s", "id": 2, "cat": "fwdbwd", "name": "b", "pid": 1, "tid": 1, "ts": 12},
  {"ph": "t", "id": 2, "cat": "fwdbwd", "name": "b", "pid": 0, "tid": 3, "ts": 21},
  {"ph": "f", "id": 2, "cat": "fwdbwd", "name": "b", "pid": 0, "tid": 3, "ts": 31, "bp": "e"},
  {"ph": "f", "id": 3, "cat": "ac2g", "name": "c", "pid": 0, "tid": 3, "ts": 30, "bp": "e"},
  {"ph": "s", "id": 3, "cat": "ac2g", "name": "c", "pid": 1, "tid": 1, "ts": 13}
  ]})");
  ImportStats stats;
  const auto trace = import_pytorch_trace(file, &stats);
  EXPECT_EQ(stats.skipped_events(), 0);
  ASSERT_EQ(trace.flows().size(), 4u);  // by start time: 11, 12, 13, 21 us
  EXPECT_EQ(trace.flows()[0].id, 0x1fu);
  EXPECT_EQ(trace.flows()[0].to_ns, 10'000);  // moved from 16 us to k1's start (20 us)
  EXPECT_EQ(trace.flows()[1].id, 2u);
  EXPECT_EQ(trace.flows()[1].to_ns, 11'000);  // the step at 21 us, inside k1
  EXPECT_EQ(trace.flows()[2].id, 3u);
  EXPECT_EQ(trace.flows()[2].to_ns, 20'000);
  EXPECT_EQ(trace.flows()[3].from_ns, 11'000);  // from the step ...
  EXPECT_EQ(trace.flows()[3].to_ns, 21'000);    // ... to the end, inside k2
}

// Every way an event can be unusable: each is skipped and counted by reason, nothing throws.
TEST(PytorchImport, UnusableEventsAreCountedSkips) {
  TempDir dir;
  const auto file = write_text(dir / "odd.json", R"({"traceEvents": [
  {"ph": "X", "cat": "cpu_op", "name": "ok", "pid": 1, "tid": 1, "ts": 10, "dur": 1},
  {"ph": "X", "cat": "cpu_op", "name": "no ts", "pid": 1, "tid": 1, "dur": 1},
  {"ph": "X", "cat": "cpu_op", "name": "bad ts", "pid": 1, "tid": 1, "ts": "soon", "dur": 1},
  {"ph": "X", "cat": "cpu_op", "name": "ts as text", "pid": 1, "tid": 1, "ts": "12.5", "dur": 1},
  {"ph": "X", "cat": "cpu_op", "name": "no dur", "pid": 1, "tid": 1, "ts": 10},
  {"ph": "X", "cat": "cpu_op", "name": "negative", "pid": 1, "tid": 1, "ts": 10, "dur": -4},
  {"ph": "X", "cat": "cpu_op", "pid": 1, "tid": 1, "ts": 10, "dur": 1},
  {"ph": "X", "cat": "mystery", "name": "m", "pid": 1, "tid": 1, "ts": 10, "dur": 1},
  {"ph": "X", "cat": "mystery", "name": "m", "pid": 1, "tid": 1, "ts": 11, "dur": 1},
  {"ph": "X", "cat": {"nested": true}, "name": "odd cat", "pid": 1, "tid": 1, "ts": 10, "dur": 1},
  {"ph": 7, "name": "bad ph"},
  {"name": "no ph"},
  {"ph": "Q", "name": "unknown ph"},
  {"ph": "B", "name": "begin", "pid": 1, "tid": 1, "ts": 1},
  {"ph": "f", "id": 3, "cat": "ac2g", "pid": 1, "tid": 1, "ts": 10, "bp": "e"},
  {"ph": "s", "cat": "ac2g", "pid": 1, "tid": 1, "ts": 10},
  {"ph": "s", "id": 4, "cat": "weird_flow", "pid": 1, "tid": 1, "ts": 10},
  {"ph": "C", "name": "empty counter", "pid": 1, "ts": 10, "args": {"note": "none"}},
  {"ph": "i", "name": "[memory]", "pid": 1, "tid": 1, "ts": 10, "args": {"Device Type": 0}},
  42,
  "text",
  [1, 2, 3],
  {"ph": "X", "cat": "cpu_op", "name": "big args", "pid": 1, "tid": 1, "ts": 20, "dur": 1,
   "args": {"deep": [[[{"a": [1, {"b": null}]}]]], "flag": true, "f": 1.5e3, "u": 18446744073709551615}}
  ]})");
  ImportStats stats;
  const auto trace = import_pytorch_trace(file, &stats);
  EXPECT_EQ(stats.spans, 3);  // ok, ts as text, big args
  EXPECT_EQ(span_named(trace, "ts as text")->start_ns, 2'500);
  const auto big = span_named(trace, "big args");
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(json::parse(trace.args(big->args))["deep"][0][0][0]["a"][1]["b"], nullptr);
  const std::map<std::string, std::int64_t> reasons = {{"missing ts", 1},
                                                       {"ts not a number", 1},
                                                       {"missing dur", 1},
                                                       {"negative dur", 1},
                                                       {"missing name", 1},
                                                       {"missing ph", 2},
                                                       {"unknown ph \"Q\"", 1},
                                                       {"begin/end event (ph B/E)", 1},
                                                       {"flow end without a start", 1},
                                                       {"flow event without an id", 1},
                                                       {"counter event without a numeric value", 1},
                                                       {"memory event without a size", 1},
                                                       {"event not an object", 3}};
  std::map<std::string, std::int64_t> seen;
  for (const auto& [reason, count] : stats.skipped) seen[reason] = count.events;
  EXPECT_EQ(seen, reasons);
  EXPECT_EQ(stats.skipped_categories.at("mystery").events, 2);
  EXPECT_EQ(stats.skipped_categories.at("weird_flow").events, 1);
  EXPECT_EQ(stats.skipped_categories.count("{\"nested\":true}"), 1u);  // a category not a string
  // The offset of the first of a kind points at its event.
  const auto first_missing_ts = stats.skipped.at("missing ts").first_offset;
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.substr(first_missing_ts, 10), "{\"ph\": \"X\"") << first_missing_ts;
  EXPECT_NE(text.substr(first_missing_ts, 60).find("no ts"), std::string::npos);
}

std::string import_error(const std::filesystem::path& file) {
  try {
    import_pytorch_trace(file);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(PytorchImport, MalformedJsonIsAnErrorNamingTheFileAndByte) {
  TempDir dir;
  const std::string text = kKinetoTrace;
  const auto truncated = write_text(dir / "cut.json", text.substr(0, 500));
  auto error = import_error(truncated);
  EXPECT_NE(error.find(truncated.string()), std::string::npos) << error;
  EXPECT_NE(error.find("malformed JSON at byte 500"), std::string::npos) << error;
  EXPECT_NE(error.find("unexpected end of input"), std::string::npos) << error;

  const auto garbage =
      write_text(dir / "bad.json", R"({"traceEvents": [{"ph": "X", "ts": 1,, }]})");
  error = import_error(garbage);
  EXPECT_NE(error.find("malformed JSON at byte 37"), std::string::npos) << error;  // the 2nd ","
  EXPECT_NE(error.find("line 1, column 38"), std::string::npos) << error;

  const auto gz = write_text(dir / "cut.json.gz", text.substr(0, 700));
  error = import_error(gz);
  EXPECT_NE(error.find("byte 700 of the uncompressed JSON"), std::string::npos) << error;

  EXPECT_NE(import_error(write_text(dir / "empty.json", "")).find("empty"), std::string::npos);
  EXPECT_NE(import_error(dir / "absent.json").find("cannot open"), std::string::npos);
}

TEST(PytorchImport, DamagedGzipIsAnErrorNotACrash) {
  TempDir dir;
  const auto whole = write_text(dir / "whole.json.gz", kKinetoTrace);
  std::ifstream in(whole, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Cut in the middle of the compressed data: the gzip stream ends early.
  const auto cut = write_text(dir / "cut.bin", bytes.substr(0, bytes.size() / 2));
  std::filesystem::rename(cut, dir / "cut.json.gz");
  auto error = import_error(dir / "cut.json.gz");
  EXPECT_NE(error.find((dir / "cut.json.gz").string()), std::string::npos) << error;
  EXPECT_TRUE(error.find("gzip") != std::string::npos ||
              error.find("malformed JSON") != std::string::npos)
      << error;
  // Corrupt bytes in the compressed data.
  std::string flipped = bytes;
  for (std::size_t i = 20; i < flipped.size() - 8; i += 7)
    flipped[i] = static_cast<char>(~flipped[i]);
  std::ofstream(dir / "flipped.json.gz", std::ios::binary) << flipped;
  error = import_error(dir / "flipped.json.gz");
  EXPECT_FALSE(error.empty());
}

TEST(PytorchImport, JsonThatIsNotATraceSaysWhatWasExpected) {
  TempDir dir;
  for (const auto& [name, text] :
       std::map<std::string, std::string>{{"object.json", R"({"model": "resnet", "epochs": 3})"},
                                          {"number.json", "42"},
                                          {"events_object.json", R"({"traceEvents": {"ph": "X"}})"},
                                          {"events_string.json", R"({"traceEvents": "none"})"},
                                          {"numbers.json", "[1, 2, 3]"}}) {
    const auto error = import_error(write_text(dir / name, text));
    EXPECT_NE(error.find((dir / name).string()), std::string::npos) << name << ": " << error;
    EXPECT_NE(error.find("expected a Chrome trace"), std::string::npos) << name << ": " << error;
  }
  // An empty trace is a trace.
  ImportStats stats;
  EXPECT_TRUE(import_pytorch_trace(write_text(dir / "none.json", "[]"), &stats).spans().empty());
  EXPECT_TRUE(import_pytorch_trace(write_text(dir / "none2.json", R"({"traceEvents": []})"))
                  .spans()
                  .empty());
}

// Every prefix of a trace and many corruptions of it: a Trace or a FormatError, nothing else.
TEST(PytorchImport, NeverCrashesOnTruncatedOrCorruptedInput) {
  TempDir dir;
  const std::string text = kKinetoTrace;
  const auto file = dir / "t.json";
  int errors = 0;
  for (std::size_t cut = 0; cut <= text.size(); cut += 3) {
    write_text(file, text.substr(0, cut));
    try {
      import_pytorch_trace(file);
    } catch (const FormatError&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
  std::mt19937 rng(7);
  const std::string noise = "{}[]\",:0-.eE\\ x\x01\xff";
  for (int round = 0; round < 300; ++round) {
    std::string damaged = text;
    for (int k = 0; k < 3; ++k) {
      damaged[rng() % damaged.size()] = noise[rng() % noise.size()];
    }
    write_text(file, damaged);
    try {
      import_pytorch_trace(file);
    } catch (const FormatError&) {
    }
  }
}

TEST(PytorchImport, MicrosecondTextBecomesExactNanoseconds) {
  EXPECT_EQ(micros_text_to_ns("12.345"), 12'345);
  EXPECT_EQ(micros_text_to_ns("1623142623460111"), 1'623'142'623'460'111'000LL);
  EXPECT_EQ(micros_text_to_ns("1623142623460111.5"), 1'623'142'623'460'111'500LL);
  EXPECT_EQ(micros_text_to_ns("88437691101.719"), 88'437'691'101'719LL);
  EXPECT_EQ(micros_text_to_ns("0.04"), 40);
  EXPECT_EQ(micros_text_to_ns("0.0005"), 1);  // half away from zero
  EXPECT_EQ(micros_text_to_ns("0.0004"), 0);
  EXPECT_EQ(micros_text_to_ns("-1.5"), -1'500);
  EXPECT_EQ(micros_text_to_ns("1e3"), 1'000'000);
  EXPECT_EQ(micros_text_to_ns("2.5E-2"), 25);
  EXPECT_EQ(micros_text_to_ns("0"), 0);
  EXPECT_FALSE(micros_text_to_ns("").has_value());
  EXPECT_FALSE(micros_text_to_ns("soon").has_value());
  EXPECT_FALSE(micros_text_to_ns("1.5x").has_value());
  EXPECT_FALSE(micros_text_to_ns("1e30").has_value());
  EXPECT_FALSE(micros_text_to_ns("1e").has_value());
}

// --- export, then import -------------------------------------------------------------------

Trace hand_built_trace() {
  tb::testing::TraceBuilder b;
  const auto engine = b.track("engine", TrackKind::cpu_thread, "trainbench");
  const auto worker = b.track("loader worker 1", TrackKind::loader_worker, "trainbench");
  const auto stream = b.track("stream 7", TrackKind::gpu_stream, "GPU 0");
  const auto bare = b.track("no process", TrackKind::cpu_thread, "", 2);
  b.track("idle", TrackKind::rank, "trainbench", 1);  // no spans at all
  b.span(engine, "step", Category::step, 1'000, 9'000'001, 1);
  b.span(engine, "data", Category::data, 1'000, 2'500, 1);
  b.span(engine, "forward", Category::forward, 2'500, 4'000, 1, R"({"layers":3})");
  b.span(engine, "ncclAllReduce", Category::kernel, 4'000, 4'001, 1);  // stays a kernel
  b.span(worker, "decode", Category::data, 1'200, 2'001'234, 0, R"({"batch": 5, "names": ["a"]})");
  b.span(stream, "gemm \"quoted\" \xc3\xa9", Category::kernel, 3'333, 4'444, 0);
  b.span(stream, "memcpy", Category::memcpy, 5'000, 5'000, 0);  // zero length
  b.span(bare, "annotate", Category::annotation, 7'777, 8'888, 2);
  for (int i = 0; i < kCategoryCount; ++i) {
    b.span(engine, "every", static_cast<Category>(i), 10'000 + i, 10'500 + i, 0);
  }
  const auto loss = b.counter("train_loss", "");
  b.point(loss, 9'000'000, 2.25);
  b.point(loss, 18'000'000, 1.5);
  const auto memory = b.counter("memory allocated (cpu)", "bytes");
  b.point(memory, 1'500, 4096);
  b.flow(engine, 2'600, stream, 3'400, 5);
  b.flow(worker, 2'000'000, engine, 2'400, 5);  // same id, another flow
  b.trace.metadata = {{"name", "tiny"}, {"seed", 3}};
  return b.build();
}

struct SpanView {
  std::int64_t start, end, step;
  std::string track, process, name, args;
  Category category;
  TrackKind kind;
  auto operator<=>(const SpanView&) const = default;
};

std::vector<SpanView> span_views(const Trace& trace) {
  std::vector<SpanView> views;
  for (const auto& span : trace.spans()) {
    const auto& track = trace.track(span.track);
    const auto args = trace.args(span.args);
    views.push_back({span.start_ns, span.end_ns, span.step, track.name, track.process,
                     std::string(trace.name(span.name)),
                     args.empty() ? "" : json::parse(args).dump(), span.category, track.kind});
  }
  std::sort(views.begin(), views.end());
  return views;
}

void expect_same_trace(const Trace& a, const Trace& b) {
  ASSERT_EQ(a.spans().size(), b.spans().size());
  EXPECT_EQ(span_views(a), span_views(b));
  ASSERT_EQ(a.counters().size(), b.counters().size());
  for (const auto& counter : a.counters()) {
    const auto other = b.find_counter(counter.name);
    ASSERT_TRUE(other.has_value()) << counter.name;
    EXPECT_EQ(b.counter(*other).unit, counter.unit);
    ASSERT_EQ(b.counter(*other).points.size(), counter.points.size());
    for (std::size_t i = 0; i < counter.points.size(); ++i) {
      EXPECT_EQ(b.counter(*other).points[i].time_ns, counter.points[i].time_ns);
      EXPECT_EQ(b.counter(*other).points[i].value, counter.points[i].value);
    }
  }
  ASSERT_EQ(a.flows().size(), b.flows().size());
  for (std::size_t i = 0; i < a.flows().size(); ++i) {
    const auto& x = a.flows()[i];
    const auto& y = b.flows()[i];
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.from_ns, y.from_ns);
    EXPECT_EQ(x.to_ns, y.to_ns);
    EXPECT_EQ(a.track(x.from_track).name, b.track(y.from_track).name);
    EXPECT_EQ(a.track(x.to_track).name, b.track(y.to_track).name);
  }
}

TEST(PytorchImport, ExportThenImportKeepsEverySpanCounterAndFlow) {
  TempDir dir;
  const auto original = hand_built_trace();
  for (const char* name : {"t.json", "t.json.gz"}) {
    save_chrome_trace(original, dir / name);
    ImportStats stats;
    const auto back = import_pytorch_trace(dir / name, &stats);
    EXPECT_EQ(stats.source, "trainbench");
    EXPECT_EQ(stats.skipped_events(), 0);
    expect_same_trace(original, back);
    // Tracks keep their ids, kinds, processes and ranks, the one with no spans included.
    ASSERT_EQ(back.tracks().size(), original.tracks().size());
    for (std::size_t t = 0; t < original.tracks().size(); ++t) {
      EXPECT_EQ(back.tracks()[t].name, original.tracks()[t].name);
      EXPECT_EQ(back.tracks()[t].process, original.tracks()[t].process);
      EXPECT_EQ(back.tracks()[t].kind, original.tracks()[t].kind);
      EXPECT_EQ(back.tracks()[t].rank, original.tracks()[t].rank);
    }
    EXPECT_EQ(back.metadata["name"], "tiny");
    EXPECT_EQ(back.metadata["seed"], 3);
    EXPECT_FALSE(back.metadata.contains(kExportMarker));
  }
}

// --- the real traces of ../shared/fixtures -----------------------------------------------

std::filesystem::path fixture(const char* name) {
  return std::filesystem::path(TRAINBENCH_SOURCE_DIR) / ".." / "shared" / "fixtures" / name;
}

#define REQUIRE_FIXTURE(name)                                                 \
  if (!std::filesystem::exists(fixture(name))) {                              \
    GTEST_SKIP() << "fixture " << fixture(name).string()                      \
                 << " is not here (the shared real traces are optional; see " \
                    "../shared/fixtures/README.md)";                          \
  }

struct FixtureCounts {
  std::map<std::string, std::int64_t> categories;
  std::int64_t steps, flows, memory_points;
};

void expect_fixture(const char* name, const FixtureCounts& expected) {
  ImportStats stats;
  const auto trace = import_pytorch_trace(fixture(name), &stats);
  EXPECT_EQ(counts_by_category(trace), expected.categories) << name;
  EXPECT_EQ(stats.steps, expected.steps) << name;
  EXPECT_EQ(stats.flows, expected.flows) << name;
  EXPECT_EQ(static_cast<std::int64_t>(trace.flows().size()), expected.flows) << name;
  EXPECT_EQ(stats.memory_points, expected.memory_points) << name;
  EXPECT_EQ(trace.spans().front().start_ns >= 0, true);
}

TEST(PytorchImportFixtures, ResNet50WithoutWorkers) {
  REQUIRE_FIXTURE("resnet50_gpu_workers0.pt.trace.json.gz");
  // 23646 Operator spans: 6 ProfilerStep#N, 6 DataLoader waits and 12 Optimizer ranges among them.
  expect_fixture("resnet50_gpu_workers0.pt.trace.json.gz", {{{"cpu_op", 23622},
                                                             {"step", 6},
                                                             {"data", 6},
                                                             {"optimizer", 12},
                                                             {"runtime", 11923},
                                                             {"kernel", 8772},
                                                             {"memcpy", 12},
                                                             {"memset", 312},
                                                             {"annotation", 1}},
                                                            6,
                                                            9096,
                                                            12838});
  ImportStats stats;
  const auto trace =
      import_pytorch_trace(fixture("resnet50_gpu_workers0.pt.trace.json.gz"), &stats);
  EXPECT_EQ(stats.source, "pytorch-kineto");
  EXPECT_EQ(trace.metadata["deviceProperties"][0]["name"], "Tesla V100-DGXS-32GB");
  EXPECT_TRUE(trace.find_counter("memory allocated (cuda:0)").has_value());
  EXPECT_TRUE(trace.find_counter("memory allocated (cpu)").has_value());
  std::set<std::int64_t> steps;
  for (const auto& span : trace.spans()) {
    if (span.category == Category::step) steps.insert(span.step);
  }
  EXPECT_EQ(steps, (std::set<std::int64_t>{5, 6, 7, 8, 9, 10}));
  // The GPU stream is one track, its kernels on it.
  std::int64_t streams = 0;
  for (const auto& track : trace.tracks()) streams += track.kind == TrackKind::gpu_stream;
  EXPECT_EQ(streams, 1);
}

TEST(PytorchImportFixtures, ResNet50WithFourWorkers) {
  REQUIRE_FIXTURE("resnet50_gpu_workers4.pt.trace.json.gz");
  expect_fixture("resnet50_gpu_workers4.pt.trace.json.gz", {{{"cpu_op", 20538},
                                                             {"step", 6},
                                                             {"data", 6},
                                                             {"optimizer", 12},
                                                             {"runtime", 12085},
                                                             {"kernel", 8868},
                                                             {"memcpy", 12},
                                                             {"memset", 378},
                                                             {"annotation", 1}},
                                                            6,
                                                            9258,
                                                            10980});
}

TEST(PytorchImportFixtures, KinetoGpuSmall) {
  REQUIRE_FIXTURE("kineto_gpu_small.trace.json");
  // One ac2g flow with a start; ids 200 and 300 end on the stream with no start in the file.
  expect_fixture(
      "kineto_gpu_small.trace.json",
      {{{"cpu_op", 4}, {"runtime", 1}, {"kernel", 1}, {"sync", 2}, {"annotation", 1}}, 0, 1, 0});
  ImportStats stats;
  const auto trace = import_pytorch_trace(fixture("kineto_gpu_small.trace.json"), &stats);
  EXPECT_EQ(stats.skipped.at("flow end without a start").events, 2);
  EXPECT_EQ(trace.metadata["deviceProperties"][0]["name"], "NVIDIA H100");
  EXPECT_EQ(trace.metadata["baseTimeNanoseconds"], 1775078550000000000LL);
  // Fractional microseconds: the kernel lasts 0.02 us.
  const Span* kernel = span_named(trace, "Kernel");
  ASSERT_NE(kernel, nullptr);
  EXPECT_EQ(kernel->end_ns - kernel->start_ns, 20);
  EXPECT_EQ(trace.track(kernel->track).name, "stream 1");
  EXPECT_EQ(trace.track(kernel->track).kind, TrackKind::gpu_stream);
  const Flow& flow = trace.flows().at(0);
  EXPECT_EQ(flow.to_ns, kernel->start_ns);
  EXPECT_EQ(flow.to_track, kernel->track);
}

TEST(PytorchImportFixtures, PytorchCpuMlpLegacyArray) {
  REQUIRE_FIXTURE("pytorch_cpu_mlp_trace.json");
  ImportStats stats;
  const auto trace = import_pytorch_trace(fixture("pytorch_cpu_mlp_trace.json"), &stats);
  EXPECT_EQ(stats.source, "pytorch-legacy");
  EXPECT_EQ(stats.spans, 875);
  EXPECT_EQ(stats.steps, 3);
  // The record_function ranges, one of each per step, carry their phase and their step's number.
  std::map<std::string, std::set<std::int64_t>> steps_by_phase;
  for (const auto& span : trace.spans()) {
    const std::string name(trace.name(span.name));
    if (name == "data" || name == "forward" || name == "backward" || name == "optimizer") {
      EXPECT_EQ(category_name(span.category), name);
      steps_by_phase[name].insert(span.step);
    }
  }
  const std::set<std::int64_t> steps = {0, 1, 2};
  EXPECT_EQ(steps_by_phase,
            (std::map<std::string, std::set<std::int64_t>>{
                {"data", steps}, {"forward", steps}, {"backward", steps}, {"optimizer", steps}}));
  // Optimizer.step# and Optimizer.zero_grad# ranges are optimizer spans too.
  const std::map<std::string, std::int64_t> expected = {
      {"step", 3}, {"data", 3}, {"forward", 3}, {"backward", 3}, {"optimizer", 9}, {"cpu_op", 854}};
  EXPECT_EQ(counts_by_category(trace), expected);
  EXPECT_EQ(stats.skipped_events(), 0);
}

TEST(PytorchImportFixtures, ExportThenImportOfARealTraceKeepsEverySpan) {
  REQUIRE_FIXTURE("resnet50_gpu_workers0.pt.trace.json.gz");
  TempDir dir;
  const auto imported = import_pytorch_trace(fixture("resnet50_gpu_workers0.pt.trace.json.gz"));
  save_chrome_trace(imported, dir / "resnet.json.gz");
  const auto back = import_pytorch_trace(dir / "resnet.json.gz");
  expect_same_trace(imported, back);
  EXPECT_EQ(back.metadata["deviceProperties"], imported.metadata["deviceProperties"]);
}

// --- streaming --------------------------------------------------------------------------

std::int64_t peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// A 50 MB trace of kernels with long template names, as real GPU traces have: read streaming,
// the import's peak memory stays a fraction of the file (a JSON DOM of it would be several
// times the file: a map node, a key and a value per field of every event).
TEST(PytorchImport, ReadsA50MBTraceWithoutHoldingItInMemory) {
  if (peak_rss_kib() < 0) GTEST_SKIP() << "no /proc/self/status VmHWM on this system";
  TempDir dir;
  const auto file = dir / "big.json";
  {
    std::FILE* out = std::fopen(file.c_str(), "wb");
    ASSERT_NE(out, nullptr);
    std::fputs("{\"schemaVersion\": 1, \"traceEvents\": [\n", out);
    std::string templ(300, 'x');
    for (std::size_t i = 0; i < 300; i += 50) templ.replace(i, 8, "<float,4");
    std::int64_t written = 0;
    for (int i = 0; written < 50'000'000; ++i) {
      const int kind = i % 64;
      written += std::fprintf(
          out,
          "%s{\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"void at::native::kernel_%d%s\", "
          "\"pid\": 0, \"tid\": 7, \"ts\": %d.%03d, \"dur\": 1.5}\n",
          i == 0 ? "" : ",", kind, templ.c_str(), 1'000'000 + i, i % 1000);
    }
    std::fputs("]}\n", out);
    std::fclose(out);
  }
  const auto file_kib = static_cast<std::int64_t>(std::filesystem::file_size(file) / 1024);
  const auto before = peak_rss_kib();
  ImportStats stats;
  const auto trace = import_pytorch_trace(file, &stats);
  const auto growth = peak_rss_kib() - before;
  EXPECT_GT(stats.spans, 100'000);
  EXPECT_EQ(static_cast<std::int64_t>(trace.spans().size()), stats.spans);
  EXPECT_LT(growth, file_kib / 2) << "peak RSS grew " << growth << " KiB reading a " << file_kib
                                  << " KiB trace";
  std::printf("[ info ] %lld spans from %lld KiB: peak RSS +%lld KiB\n",
              static_cast<long long>(stats.spans), static_cast<long long>(file_kib),
              static_cast<long long>(growth));
}

}  // namespace
}  // namespace tb::trace
